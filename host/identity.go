package host

import (
	"context"

	"github.com/bgjob/bgjob/host/internal/identity"
)

// Who calls the host and whom a job runs as is package internal/identity:
// the host's Resolver (h.ids) decides, from Start and Restart, whom a job
// runs as, and the package says what its environment is and whether its
// user can enter its working directory. Caller and its functions are
// re-exported here for the socket server.

// Caller is who asks the host for something: on a socket, the peer the
// kernel names (SO_PEERCRED), never what the client says about itself.
// Each caller sees and touches only the jobs it owns; root sees all.
type Caller = identity.Caller

// WithCaller says who makes the calls made with ctx. Without it, a call is
// the host's own user's.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return identity.WithCaller(ctx, c)
}

// CallerFrom says who makes the calls made with ctx, if WithCaller said.
func CallerFrom(ctx context.Context) (Caller, bool) {
	return identity.CallerFrom(ctx)
}

// LookupCaller names the user uid, for a Caller.
func LookupCaller(uid, gid uint32) Caller {
	return identity.LookupCaller(uid, gid)
}

// caller is who makes the call.
func (h *Host) caller(ctx context.Context) Caller {
	if c, ok := identity.CallerFrom(ctx); ok {
		return c
	}
	return h.self
}
