package host

import (
	"context"
	"slices"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
)

// MaxInput bounds a job's input: see api.MaxInput for why; MaxScript a
// script file.
const (
	MaxInput  = api.MaxInput
	MaxScript = admit.MaxScript
)

// ThreadJob is the type of a thread job (Start-ThreadJob),
// DefaultThrottleLimit how many run at once unless the start says, and
// DefaultDefinitionType the type --definition-name means without --type.
const (
	ThreadJob             = admit.ThreadJob
	DefaultThrottleLimit  = admit.DefaultThrottleLimit
	DefaultDefinitionType = admit.DefaultDefinitionType
)

// WithNotices has what a call made with ctx should tell its caller though
// it succeeds (a start: the 32-bit build runs another version than the
// 64-bit one would, say; a suspend or stop --signal: a job a wildcard
// picked that it passed over) go to fn, before the call returns. Without
// it, they go to the host's log (a triggered start has no one to tell).
func WithNotices(ctx context.Context, fn func(notice string)) context.Context {
	return admit.WithNotices(ctx, fn)
}

// foregroundKey marks a start whose caller waits for the job (WithForeground).
type foregroundKey struct{}

// WithForeground says that the caller of a start made with ctx waits for
// its job and removes it when it ends, and stops and removes it if the
// caller goes away first (start --wait): the job is the caller's
// foreground. Its start then goes on while its row is being synced (see
// store.CreateForeground).
func WithForeground(ctx context.Context) context.Context {
	return context.WithValue(ctx, foregroundKey{}, true)
}

// Start creates a job and queues it; it returns the job's row. Everything
// that can be wrong with the request (working directory, script file,
// version constraint, runtime) is reported here, before a job exists.
func (h *Host) Start(ctx context.Context, req *api.StartRequest) (*api.Job, error) {
	owner := h.caller(ctx)
	if err := admit.CheckRequest(req); err != nil {
		return nil, err
	}
	if req.InstanceID != "" {
		// A start sent again (its answer was lost with a host): the
		// job it made, rather than a second one.
		if view, ok, err := h.t.StartedAlready(owner, req.InstanceID); ok || err != nil {
			return view, err
		}
	}
	// Whom the job runs as, and whether the caller may have that; the
	// password is checked here and goes no further.
	runAs, acct, err := h.ids.RunAs(owner, req)
	req.Password = ""
	if err != nil {
		return nil, err
	}
	if err := admit.CheckDir(req.Workdir, runAs); err != nil {
		return nil, err
	}
	if err := identity.CheckWorkdir(acct, runAs, req.Workdir); err != nil {
		return nil, err
	}
	loc, err := h.locations.Lookup(req)
	if err != nil {
		return nil, err
	}
	if loc != nil {
		return h.startAt(ctx, loc, req, owner, runAs, acct)
	}
	reader, err := h.ids.Reader(owner)
	if err != nil {
		return nil, err
	}
	p, err := h.admit.Plan(ctx, req, runAs, reader, acct)
	if err != nil {
		return nil, err
	}
	var after []uint64
	if len(req.After) > 0 {
		h.t.Lock()
		after, err = h.t.AfterLocked(owner, req.After, 0)
		h.t.Unlock()
		if err != nil {
			return nil, err
		}
	}
	payload := p.Payload
	payload.Env = identity.JobEnv(owner, acct, h.opts.System, req.Env, append(slices.Clone(p.Env), req.EnvAdd...))
	payload.Umask = req.Umask
	if acct.UID != owner.UID {
		other := uint32(0o022) // a login's usual mask, not the caller's
		payload.Umask = &other
	}
	entry := p.Entry
	// The protocol the job will speak: the newest both the runtime and
	// this host do (the catalog admits no runtime without one).
	r := jobs.NewRow(owner, acct.Name, runAs, admit.EntrySpec(entry), admit.RuntimeOf(entry), p.Type, p.Command, p.Workdir)
	if req.InstanceID != "" {
		r.InstanceID = req.InstanceID
	}
	r.ThrottleLimit, r.Constraint = p.Throttle, req.RuntimeVersion
	r.Definition, r.After, r.AfterAnyState, r.Group = p.Definition, after, req.AfterAnyState, p.Group
	r.Priority = req.Priority
	r.StartAt, r.Timeout, r.Retries, r.RetryDelay = req.StartAt, req.Timeout, req.Retries, req.RetryDelay
	r.OnEnd, r.StdinOpen = req.OnEnd, req.StdinOpen
	var view *api.Job
	if r.Batch = p.Batch; r.Batch > 0 {
		view, err = h.t.CreateBatch(r, payload, p.Name, req.ForEach)
	} else if fg, _ := ctx.Value(foregroundKey{}).(bool); fg {
		view, err = h.t.CreateForeground(r, payload, p.Name)
	} else {
		view, err = h.t.Create(r, payload, p.Name)
	}
	if err != nil {
		return nil, err
	}
	admit.Tell(ctx, h.log, p.Notices)
	if p.Keep > 0 {
		h.t.Prune(r.OwnerUID, r.PSJobTypeName, r.Definition, p.Keep)
	}
	return view, nil
}
