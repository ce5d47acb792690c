package host

import (
	"context"

	"github.com/bgjob/bgjob/host/api"
)

// Suspend suspends the selected jobs that have not finished, and returns
// them (see runner.Manager.SuspendAll). Jobs suspended already stay so.
func (h *Host) Suspend(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	h.t.Unlock()
	if err != nil {
		return nil, err
	}
	ids, err := h.run.SuspendAll(ctx, js)
	return h.jobsOf(ctx, ids, err)
}

// Resume resumes the selected suspended jobs and returns them; the others
// are left as they are.
func (h *Host) Resume(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	h.t.Unlock()
	if err != nil {
		return nil, err
	}
	ids, err := h.run.ResumeAll(js)
	return h.jobsOf(ctx, ids, err)
}

// jobsOf is the jobs ids as the caller sees them now, for a call that
// acted on them; none is nil.
func (h *Host) jobsOf(ctx context.Context, ids []string, err error) ([]*api.Job, error) {
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return h.Jobs(ctx, ids, nil)
}
