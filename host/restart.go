package host

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/sdk"
)

// Restart runs finished jobs again (pueue's restart): each gets what it was
// given (script, arguments, input, working directory, environment, user,
// group, priority, dependencies; a script read from a file as it was read
// then) and its runtime is resolved again from its constraint, so a fixed
// runtime installed since is the one that runs. Each is a new job (a new
// id, the same name), or in place (--in-place) its own row runs again and
// its old records go. With a state option the jobs are those (named, or
// all) in that state, and selecting none is no error.
func (h *Host) Restart(ctx context.Context, sel []string, req *api.RestartRequest, opts ...SelectOption) ([]*api.Job, error) {
	c := h.caller(ctx)
	if req == nil {
		req = &api.RestartRequest{}
	}
	if req.AfterAnyState && req.After == nil {
		return nil, errorf(ErrBadRequest, "--after-any-state goes with --after")
	}
	if req.RequestID != "" && !api.ValidInstanceID(req.RequestID) {
		return nil, errorf(ErrBadRequest, "the restart's request id %q is not a UUID in lower case", req.RequestID)
	}
	h.t.Lock()
	js, err := h.t.SelectFiltered(c, sel, opts)
	var done []string
	if err == nil {
		js, done = h.t.RestartedAlreadyLocked(c, js, req.RequestID)
	}
	h.t.Unlock()
	if err != nil || len(js)+len(done) == 0 {
		return nil, err
	}
	if req.Script != nil && len(js)+len(done) != 1 {
		return nil, errorf(ErrBadRequest, "--edit restarts one job; %d are selected", len(js)+len(done))
	}
	if err := h.t.Restartable(js); err != nil {
		return nil, err
	}
	ids := done
	// Jobs restarted together keep their chain: a job after another that
	// is restarted with it now runs after the new one (restart --state
	// Failed of A -> B -> C, B failed and C never ran: the new C waits for
	// the new B, not for the B that failed). js is in id order, which is
	// the order a chain is made in.
	renamed := map[uint64]uint64{}
	for _, j := range js {
		id, err := h.restartJob(ctx, c, j, req, renamed)
		if err != nil {
			return nil, err
		}
		renamed[j.Row.ID] = id
		ids = append(ids, strconv.FormatUint(id, 10))
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

// restartJob runs finished job j again and returns the id it runs as; a
// job it ran after that is renamed (restarted in the same call) it now runs
// after the new one.
func (h *Host) restartJob(ctx context.Context, c Caller, j *jobs.Job, req *api.RestartRequest, renamed map[uint64]uint64) (uint64, error) {
	h.t.Lock()
	old := j.Row
	h.t.Unlock()
	// Whom it runs as: the same user, which takes their password again
	// unless that is the caller, or the caller is root.
	cred := ""
	if old.User != c.Name {
		cred = old.User
	}
	runAs, acct, err := h.ids.RunAs(c, &api.StartRequest{Credential: cred, Password: req.Password})
	if err != nil {
		return 0, fmt.Errorf("job %d ran as %s: %w", old.ID, old.User, err)
	}
	again, err := h.admit.Again(&old, acct, runAs, func() (*sdk.Job, error) { return h.t.Payload(&old) }, req.Script)
	if err != nil {
		return 0, err
	}
	self := uint64(0)
	if req.InPlace {
		self = old.ID
	}
	after, anyState := old.After, old.AfterAnyState
	if len(renamed) > 0 && req.After == nil {
		after = slices.Clone(after)
		for i, id := range after {
			if n, ok := renamed[id]; ok {
				after[i] = n
			}
		}
	}
	if req.After != nil {
		h.t.Lock()
		after, err = h.t.AfterLocked(c, req.After, self)
		h.t.Unlock()
		if err != nil {
			return 0, err
		}
		anyState = req.AfterAnyState
	}
	r := jobs.NewRow(c, acct.Name, runAs, again.Spec, again.Runtime, old.PSJobTypeName, again.Command, old.Workdir)
	r.ThrottleLimit, r.Constraint, r.Timeout, r.Retries, r.RetryDelay = old.ThrottleLimit, old.Constraint, old.Timeout, old.Retries, old.RetryDelay
	r.Definition, r.After, r.AfterAnyState, r.Group, r.Priority, r.OnEnd = old.Definition, after, anyState, old.Group, old.Priority, old.OnEnd
	r.RestartID, r.RestartOf, r.StdinOpen = req.RequestID, old.ID, old.StdinOpen
	if req.InPlace {
		// Still the job of whoever started it (root may restart it).
		r.OwnerUID, r.Owner = old.OwnerUID, old.Owner
	} else {
		v, err := h.t.Create(r, again.Payload, old.Name)
		if err != nil {
			return 0, err
		}
		return v.ID, nil
	}
	return old.ID, h.t.RestartInPlace(j, r, again.Payload)
}
