package admit

import (
	"context"

	"github.com/hashicorp/go-hclog"
)

// A plan may carry notices: what a start should tell its caller though it
// succeeds (Plan.Notices). The caller's context says where they go.

// noticesKey keys the function a call's notices go to (WithNotices).
type noticesKey struct{}

// WithNotices has the notices of a start made with ctx go to fn.
func WithNotices(ctx context.Context, fn func(notice string)) context.Context {
	return context.WithValue(ctx, noticesKey{}, fn)
}

// Tell says notices to the caller of ctx (see WithNotices), or, with no
// one to tell (a triggered start), logs them.
func Tell(ctx context.Context, log hclog.Logger, notices []string) {
	fn, _ := ctx.Value(noticesKey{}).(func(string))
	for _, n := range notices {
		if fn != nil {
			fn(n)
		} else {
			log.Warn(n)
		}
	}
}
