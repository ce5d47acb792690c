package host

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
)

// Jobs returns the selected jobs that pass the filter.
func (h *Host) Jobs(ctx context.Context, sel []string, f *api.Filter) ([]*api.Job, error) {
	return h.t.Query(h.caller(ctx), sel, f)
}

// Stop stops the selected jobs and waits until they have ended. A queued
// job is stopped at once; a running one gets the stop grace to end, then
// its processes are killed.
func (h *Host) Stop(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	if err != nil {
		h.t.Unlock()
		return nil, err
	}
	// The jobs at a location are its to stop (as their parents).
	js, elsewhere, err := h.locations.StopLocked(ctx, h.t, js)
	if err == nil {
		// A batch's parent runs nothing: stopping it stops its children.
		var batches []*jobs.Job
		js, batches = jobs.SplitBatchesLocked(js)
		elsewhere = append(elsewhere, batches...)
	}
	h.t.Unlock()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range elsewhere {
		ids = append(ids, strconv.FormatUint(p.Row.ID, 10))
	}
	local, err := h.run.Stop(ctx, js)
	return h.jobsOf(ctx, append(ids, local...), err)
}

// Remove deletes the selected jobs and their records. The finished ones go;
// an unfinished one is stopped first with force (and goes even if where it
// runs cannot be reached, which the caller is told), and otherwise stays
// and is reported (ErrNotFinished) once the others are gone, so that
// `remove '*'` clears what is done.
func (h *Host) Remove(ctx context.Context, sel []string, force bool, opts ...SelectOption) error {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	if err != nil {
		h.t.Unlock()
		return err
	}
	var unfinished []string
	var unfinishedIDs []string
	left := &NotFinishedError{}
	done := js[:0:0]
	picked := map[uint64]bool{}
	for _, j := range js {
		picked[j.Row.ID] = true
	}
	// One of the jobs the caller named exactly left unfinished fails the
	// call.
	exact := h.namedLocked(ctx, sel)
	for _, j := range js {
		if p := h.t.GetLocked(j.Row.Parent); j.Row.Parent != 0 && p != nil && !picked[p.Row.ID] {
			h.t.Unlock()
			return errorf(ErrBadRequest, "job %d (%s) is a child job of job %d (%s); remove the parent, which removes its children", j.Row.ID, j.Row.Name, p.Row.ID, p.Row.Name)
		}
		if j.Row.Parent != 0 {
			continue // removed with its parent
		}
		if j.Row.State.Finished() {
			done = append(done, j)
			continue
		}
		unfinished = append(unfinished, fmt.Sprintf("%d (%s, %s)", j.Row.ID, j.Row.Name, j.Row.State))
		unfinishedIDs = append(unfinishedIDs, strconv.FormatUint(j.Row.ID, 10))
		left.Left = append(left.Left, j.ViewLocked())
		left.Named = left.Named || exact[j]
	}
	h.t.Unlock()
	if len(unfinished) > 0 && force {
		// A location gives up on a job it cannot reach rather than fail
		// the removal (remote.ForRemoval), and says so to the caller.
		if _, err := h.Stop(remote.ForRemoval(ctx), unfinishedIDs); err != nil {
			return err
		}
		done = done[:0]
		for _, j := range js {
			if j.Row.Parent == 0 {
				done = append(done, j)
			}
		}
		unfinished = nil
	}
	for _, j := range done {
		if err := h.t.RemoveTree(j, true); err != nil {
			return err
		}
	}
	if len(unfinished) > 0 {
		left.err = errorf(ErrNotFinished, "job %s is not finished and was left; stop it first, or remove it with --force", strings.Join(unfinished, ", "))
		return left
	}
	return nil
}

// Wait blocks until every selected job (or, with anyOne, one of them) has
// finished, or timeout (if positive) passes; it returns the finished jobs.
//
// With a state option the jobs are those in that state when the wait
// begins (Wait-Job -State Running waits for the jobs running now).
func (h *Host) Wait(ctx context.Context, sel []string, anyOne bool, timeout time.Duration, opts ...SelectOption) ([]*api.Job, error) {
	return h.t.Wait(ctx, h.caller(ctx), sel, anyOne, timeout, opts...)
}

// Events streams the changes of the selected jobs' states (events.Stream).
func (h *Host) Events(ctx context.Context, sel []string, f *api.Filter, req *api.EventsRequest, emit func(*api.Event) error) error {
	return h.ev.Stream(ctx, h.caller(ctx), sel, f, req, emit)
}

// Queue shows the queue's groups and clean-up policy, after applying what
// req changes. Only the host's own user and root change them: on a system
// host they bind every user.
func (h *Host) Queue(ctx context.Context, req *api.QueueRequest) (*api.Queue, error) {
	return h.t.Queue(h.caller(ctx), req)
}

// namedLocked is the jobs of sel the caller named exactly (an id, an
// instance id, a name without wildcards), as opposed to those a wildcard
// or --state picked: a command that cannot act on one of those fails, and
// passes over the others (remove '*' leaves the running jobs, suspend
// --state Running the thread jobs) and says so. h.t is locked.
func (h *Host) namedLocked(ctx context.Context, sel []string) map[*jobs.Job]bool {
	exact := map[*jobs.Job]bool{}
	for _, s := range sel {
		if !jobs.IsPattern(s) {
			named, _ := h.t.SelectLocked(h.caller(ctx), []string{s})
			for _, j := range named {
				exact[j] = true
			}
		}
	}
	return exact
}
