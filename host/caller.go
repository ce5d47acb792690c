package host

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

// caller is who makes the call.
func (h *Host) caller(ctx context.Context) Caller {
	if c, ok := ctx.Value(callerKey{}).(Caller); ok {
		return c
	}
	return h.self
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

// self is the host process's own user.
func self() Caller {
	return LookupCaller(uint32(os.Geteuid()), uint32(os.Getegid()))
}

// visibleLocked reports whether c may see and touch j.
func (c Caller) may(j *job) bool {
	return c.Root() || j.row.OwnerUID == c.UID
}
