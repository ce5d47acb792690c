package host

import (
	"context"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/restart"
)

// Restart runs finished jobs again (see package restart): each is a new
// job, or in place (--in-place) its own row runs again and its old records
// go. With a state option the jobs are those (named, or all) in that
// state, and selecting none is no error.
func (h *Host) Restart(ctx context.Context, sel []string, req *api.RestartRequest, opts ...SelectOption) ([]*api.Job, error) {
	if req == nil {
		req = &api.RestartRequest{}
	}
	r := restart.Restarter{Table: h.t, Admit: h.admit, IDs: h.ids}
	ids, err := r.Restart(h.caller(ctx), sel, req, opts)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return h.Jobs(ctx, ids, nil)
}

// Script returns the selected job's script (restart --edit, edit).
func (h *Host) Script(ctx context.Context, sel []string) (string, error) {
	return h.t.Script(h.caller(ctx), sel)
}

// Edit changes a job that has not started (pueue's edit): its script,
// environment, working directory, priority or dependencies. The table
// makes the change whole and stores it before answering.
func (h *Host) Edit(ctx context.Context, sel []string, req *api.EditRequest) (*api.Job, error) {
	c := h.caller(ctx)
	j, err := h.t.SelectOne(c, sel, "edit")
	if err != nil {
		return nil, err
	}
	return h.t.Edit(c, j, req, admit.CheckDir, admit.BoundCommand)
}
