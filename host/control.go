package host

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/launch"
)

// Jobs returns the selected jobs that pass the filter.
func (h *Host) Jobs(ctx context.Context, sel []string, f *api.Filter) ([]*api.Job, error) {
	var state api.State
	if f != nil {
		var err error
		if state, err = jobs.ParseState(f.State); err != nil {
			return nil, err
		}
		if f.Newest < 0 {
			return nil, errorf(ErrBadRequest, "--newest %d: give a positive number of jobs", f.Newest)
		}
	}
	h.t.Lock()
	if f != nil && f.Newest > 0 && len(sel) == 0 && state == "" && f.Command == "" && f.HasMoreData == nil && f.Type == "" && f.Group == "" && !f.IncludeChildJobs {
		// get --newest N of a big table: the N newest rows, without
		// sorting or viewing the rest.
		out := h.t.NewestLocked(h.caller(ctx), f.Newest)
		h.t.Unlock()
		return out, nil
	}
	js, err := h.t.SelectLocked(h.caller(ctx), sel)
	if f != nil && f.IncludeChildJobs {
		js = jobs.WithChildren(js)
	}
	var out []*api.Job
	for _, j := range js {
		out = append(out, j.ViewLocked())
	}
	h.t.Unlock()
	if err != nil || f == nil {
		return out, err
	}
	kept := out[:0]
	command := jobs.CompileWildcard(f.Command)
	for _, v := range out {
		if state != "" && v.State != state {
			continue
		}
		if f.Command != "" {
			if !command.Match(v.Command) {
				continue
			}
		}
		if f.HasMoreData != nil && v.HasMoreData != *f.HasMoreData {
			continue
		}
		if f.Type != "" && !strings.EqualFold(v.PSJobTypeName, f.Type) {
			continue
		}
		if f.Group != "" && v.GroupOf() != f.Group {
			continue
		}
		kept = append(kept, v)
	}
	if f.Newest > 0 && len(kept) > f.Newest {
		kept = kept[len(kept)-f.Newest:]
	}
	return kept, nil
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
	var elsewhere []*jobs.Job
	for _, loc := range h.locations {
		var mine []*jobs.Job
		if mine, js = loc.ClaimLocked(js); len(mine) == 0 {
			continue
		}
		h.t.Unlock()
		if err := loc.Stop(ctx, mine); err != nil {
			return nil, err
		}
		h.t.Lock()
		elsewhere = append(elsewhere, mine...)
	}
	var frozen []*jobs.Job
	for _, j := range js {
		if j.Row.State == api.Suspended && j.Row.SuspendedFrom == api.Running {
			frozen = append(frozen, j)
		}
	}
	if len(frozen) > 0 {
		// A stopped process takes no signal but SIGKILL: a suspended job
		// runs again to be stopped, so it gets its grace.
		h.t.Unlock()
		for _, j := range frozen {
			if _, err := h.resumeJob(j); err != nil {
				return nil, err
			}
		}
		h.t.Lock()
	}
	var ids []string
	for _, p := range elsewhere {
		ids = append(ids, strconv.FormatUint(p.Row.ID, 10))
	}
	type stopping struct {
		j  *jobs.Job
		rt launch.Process
	}
	var running []stopping
	var queued []*jobs.Job
	var unanswering []*launch.Attach
	for _, j := range js {
		ids = append(ids, strconv.FormatUint(j.Row.ID, 10))
		switch {
		case j.Row.State == api.Blocked && j.RT == nil && j.Detached != nil:
			// Its runtime was stopped when this host started and cannot
			// answer: it is killed, with what the job started.
			unanswering = append(unanswering, &j.Detached.Attach)
			j.Detached = nil
			h.t.FreeSlotLocked(j)
			h.t.FinishLocked(j, api.Stopped, "stopped while its runtime was stopped (SIGSTOP); the runtime and what the job started were killed", nil)
			queued = append(queued, j)
		case j.Row.State == api.Suspended && j.Row.SuspendedFrom == api.Running:
			// Suspended again since it was resumed above.
			h.t.Unlock()
			return nil, errorf(ErrBadRequest, "job %d (%s) was suspended again while being stopped; stop it again", j.Row.ID, j.Row.Name)
		case j.Row.State == api.NotStarted || j.Row.State == api.Suspended || (j.Row.State == api.Running && j.RT == nil):
			// Queued, or its runtime is still starting: launch sees this.
			h.t.FinishLocked(j, api.Stopped, "stopped before it started", nil)
			queued = append(queued, j)
		case j.Row.State == api.Running || j.Row.State == api.Stopping || j.Row.State == api.Suspending:
			// A job being suspended is stopped as a running one: if its
			// runtime is stopped before it answers, it is killed.
			h.t.MoveLocked(j, api.Stopping)
			j.NotifyLocked()
			running = append(running, stopping{j, j.RT})
		}
	}
	if len(queued) > 0 {
		// Jobs that run after these fail now.
		h.t.ScheduleLocked()
	}
	h.t.Unlock()
	for _, a := range unanswering {
		launch.End(a)
	}
	for _, j := range queued {
		h.t.Persist(j)
	}
	grace := h.opts.StopGrace
	// A live runtime answers a stop at once; one that does not (frozen,
	// or stuck) is killed, with everything its job started.
	var asked sync.WaitGroup
	for _, s := range running {
		asked.Add(1)
		go func() {
			defer asked.Done()
			actx, cancel := context.WithTimeout(ctx, stopAnswer)
			defer cancel()
			if err := s.rt.Conn().Stop(actx, s.j.Row.ID, grace); err != nil {
				h.log.Warn("the runtime did not take the stop; killing it", "job", s.j.Row.ID, "err", err)
				s.rt.Kill()
			}
		}()
	}
	asked.Wait()
	if len(ids) == 0 {
		return nil, nil
	}
	// The runtime reports Stopped once the job's processes are gone. If it
	// does not within the grace and a margin, kill it; the relay then
	// records the job as Stopped.
	deadline := time.Now().Add(grace + stopMargin)
	for _, s := range running {
		killed := false
		for {
			h.t.Lock()
			done, ch := s.j.Row.State.Finished(), s.j.Changed
			h.t.Unlock()
			if done {
				break
			}
			left := time.Until(deadline)
			if left <= 0 && !killed {
				h.log.Warn("the runtime did not end its job within the stop grace; killing it", "job", s.j.Row.ID)
				s.rt.Kill()
				killed, left = true, 0
			}
			if left <= 0 {
				left = 10 * time.Second // for the relay to notice the kill
			}
			select {
			case <-ch:
			case <-time.After(left):
				if killed {
					return nil, fmt.Errorf("job %d did not end after its runtime was killed", s.j.Row.ID)
				}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return h.Jobs(ctx, ids, nil)
}

// stopAnswer bounds the wait for a runtime to take a stop request, and
// stopMargin how long after the grace it has to report the job's end:
// enough to end and reap the job's processes and send what they printed.
const (
	stopAnswer = 2 * time.Second
	stopMargin = 2 * time.Second
)

// Remove deletes the selected jobs and their records. The finished ones go;
// an unfinished one is stopped first with force, and otherwise stays and
// is reported (ErrNotFinished) once the others are gone, so that
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
	done := js[:0:0]
	picked := map[uint64]bool{}
	for _, j := range js {
		picked[j.Row.ID] = true
	}
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
	}
	h.t.Unlock()
	if len(unfinished) > 0 && force {
		if _, err := h.Stop(ctx, unfinishedIDs); err != nil {
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
		return errorf(ErrNotFinished, "job %s is not finished and was left; stop it first, or remove it with --force", strings.Join(unfinished, ", "))
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

// Queue shows the queue's groups and clean-up policy, after applying what
// req changes. Only the host's own user and root change them: on a system
// host they bind every user.
func (h *Host) Queue(ctx context.Context, req *api.QueueRequest) (*api.Queue, error) {
	return h.t.Queue(h.caller(ctx), req)
}
