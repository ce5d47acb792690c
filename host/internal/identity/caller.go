// Package identity is who calls the host and whom a job runs as: the
// caller a socket names (Caller, WithCaller), the account a job runs as and
// whether the caller may have it so (Resolver.RunAs: the system-host-only
// rule, the password check through the bgjob-auth helper), the job's
// environment (JobEnv) and whether its user can enter its working
// directory (CheckWorkdir), over a cache of the machine's accounts.
//
// It never imports package host, which re-exports Caller and its functions
// (host.Caller is identity.Caller) and calls a Resolver from Start and
// Restart; its errors carry errkind's kinds, which host re-exports.
package identity

import (
	"context"
	"os"
	"os/user"
	"strconv"
)

// Caller is who asks the host for something: on a socket, the peer the
// kernel names (SO_PEERCRED), never what the client says about itself.
// Each caller sees and touches only the jobs it owns; root sees all.
type Caller struct {
	UID, GID uint32
	Name     string
}

// Root reports whether the caller is the superuser.
func (c Caller) Root() bool { return c.UID == 0 }

type callerKey struct{}

// WithCaller says who makes the calls made with ctx. Without it, a call is
// the host's own user's.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom says who makes the calls made with ctx, if WithCaller said.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// LookupCaller names the user uid, for a Caller.
func LookupCaller(uid, gid uint32) Caller {
	return users.caller(uid, gid, lookupCaller)
}

func lookupCaller(uid, gid uint32) Caller {
	c := Caller{UID: uid, GID: gid, Name: strconv.FormatUint(uint64(uid), 10)}
	if u, err := user.LookupId(c.Name); err == nil {
		c.Name = u.Username
	}
	return c
}

// Self is the calling process's own user (the host's).
func Self() Caller {
	return LookupCaller(uint32(os.Geteuid()), uint32(os.Getegid()))
}
