package host

import (
	"context"
	"errors"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
)

// Suspend suspends the selected jobs that have not finished, and returns
// them (see runner.Manager.SuspendAll). Jobs suspended already stay so.
func (h *Host) Suspend(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	return h.act(ctx, sel, opts, func(js []*jobs.Job, named map[*jobs.Job]bool) ([]string, error) {
		return h.run.SuspendAll(ctx, js, named)
	})
}

// Resume resumes the selected suspended jobs and returns them; the others
// are left as they are.
func (h *Host) Resume(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	return h.act(ctx, sel, opts, func(js []*jobs.Job, _ map[*jobs.Job]bool) ([]string, error) { return h.run.ResumeAll(js) })
}

// Signal sends signal sig (TERM, INT, HUP, USR1, ...) to the processes of
// the selected running jobs (stop --signal; see runner.Manager.Signal).
func (h *Host) Signal(ctx context.Context, sel []string, sig string, opts ...SelectOption) ([]*api.Job, error) {
	return h.act(ctx, sel, opts, func(js []*jobs.Job, named map[*jobs.Job]bool) ([]string, error) {
		return h.run.Signal(ctx, js, sig, named)
	})
}

// Send writes data to the standard input of the one running job sel
// names, started with --stdin-open, and with eof closes it (bgjob send; see
// runner.Manager.Send). Only the job's owner, or root, sees it to send.
func (h *Host) Send(ctx context.Context, sel []string, data []byte, eof bool) error {
	j, err := h.t.SelectOne(h.caller(ctx), sel, "send")
	if err != nil {
		return err
	}
	return h.run.Send(ctx, j, data, eof)
}

// act does do to the jobs sel and opts select for the caller (those of
// them named exactly in named, see namedLocked), and returns those it
// names as the caller sees them now.
func (h *Host) act(ctx context.Context, sel []string, opts []SelectOption, do func([]*jobs.Job, map[*jobs.Job]bool) ([]string, error)) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	named := h.namedLocked(ctx, sel)
	h.t.Unlock()
	if err != nil {
		return nil, err
	}
	ids, err := do(js, named)
	return h.jobsOf(ctx, ids, err)
}

// jobsOf is the jobs ids as the caller sees them now, for a call that
// acted on them; none is nil. A job removed since is left out: the call
// did what it was asked, and a job's own caller may remove it at once (a
// start --wait, its job stopped, removes it as soon as it has its end,
// which raced the stop's answer).
func (h *Host) jobsOf(ctx context.Context, ids []string, err error) ([]*api.Job, error) {
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	js, err := h.Jobs(ctx, ids, nil)
	if !errors.Is(err, ErrNotFound) {
		return js, err
	}
	js = nil
	for _, id := range ids {
		one, err := h.Jobs(ctx, []string{id}, nil)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		js = append(js, one...)
	}
	return js, nil
}
