package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/launch"
)

// selectLocked returns the jobs the selectors name, in id order, each once,
// among those c may see. A selector is an id, an instance id, or a name with
// wildcards (* ? [...]). With no selectors it returns every job c may see.
// Another user's job is, to c, a job that does not exist.
//
// Child jobs (of a job on several nodes) are selected by id, instance id or
// their exact name; "every job" and wildcard patterns mean parent jobs, as
// in PowerShell, whose parent stands for its children.
func (h *Host) selectLocked(c Caller, sel []string) ([]*job, error) {
	if len(sel) == 0 {
		out := make([]*job, 0, len(h.jobs))
		for _, j := range h.jobs {
			if j.visibleTo(c) && j.row.Parent == 0 {
				out = append(out, j)
			}
		}
		sortJobs(out)
		return out, nil
	}
	seen := map[uint64]bool{}
	var out []*job
	for _, s := range sel {
		n := 0
		id, idErr := strconv.ParseUint(s, 10, 64)
		name := compileWildcard(s)
		pattern := strings.ContainsAny(s, "*?[")
		for _, j := range h.jobs {
			if !j.visibleTo(c) {
				continue
			}
			var match bool
			switch {
			case idErr == nil:
				match = j.row.ID == id
			case strings.EqualFold(j.row.InstanceID, s):
				match = true
			default:
				match = name.match(j.row.Name) && (j.row.Parent == 0 || !pattern)
			}
			if match {
				n++
				if !seen[j.row.ID] {
					seen[j.row.ID] = true
					out = append(out, j)
				}
			}
		}
		if n == 0 {
			return nil, errorf(ErrNotFound, "no job matches %q; 'bgjob get' lists the jobs", s)
		}
	}
	sortJobs(out)
	return out, nil
}

// withChildren is js with each parent's child jobs after it.
func withChildren(js []*job) []*job {
	seen := map[*job]bool{}
	var out []*job
	for _, j := range js {
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
		for _, k := range j.children {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// expandParents is js with each parent replaced by its child jobs, which
// hold its records.
func expandParents(js []*job) []*job {
	seen := map[*job]bool{}
	var out []*job
	for _, j := range js {
		group := []*job{j}
		if len(j.children) > 0 {
			group = j.children
		}
		for _, k := range group {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

func sortJobs(js []*job) {
	sort.Slice(js, func(a, b int) bool { return js[a].row.ID < js[b].row.ID })
}

// SelectOption narrows the jobs a call selects.
type SelectOption func(*selectOptions)

type selectOptions struct {
	state string
	group string
	// untilFinished: Wait does not return on a suspended job.
	untilFinished bool
}

// InGroup keeps the selected jobs in queue group g; "" keeps all.
func InGroup(g string) SelectOption {
	return func(o *selectOptions) { o.group = g }
}

// UntilFinished makes Wait wait for suspended jobs to finish too (wait
// --force); without it, as Wait-Job does, a suspended job ends the wait.
func UntilFinished() SelectOption {
	return func(o *selectOptions) { o.untilFinished = true }
}

// InState keeps the selected jobs in state (any case), as PowerShell's
// -State does; "" keeps all. With it, no selectors means every job, and
// selecting none is no error.
func InState(state string) SelectOption {
	return func(o *selectOptions) { o.state = state }
}

// parseState reads a state name without regard to case.
func parseState(s string) (api.State, error) {
	if s == "" {
		return "", nil
	}
	for _, st := range api.AllStates {
		if strings.EqualFold(string(st), s) {
			return st, nil
		}
	}
	return "", errorf(ErrBadRequest, "unknown state %q; states are %v", s, api.AllStates)
}

// selectFiltered is selectLocked narrowed by opts.
func (h *Host) selectFiltered(c Caller, sel []string, opts []SelectOption) ([]*job, error) {
	var o selectOptions
	for _, f := range opts {
		f(&o)
	}
	state, err := parseState(o.state)
	if err != nil {
		return nil, err
	}
	js, err := h.selectLocked(c, sel)
	if err != nil || (state == "" && o.group == "") {
		return js, err
	}
	kept := js[:0]
	for _, j := range js {
		if (state == "" || j.row.State == state) && (o.group == "" || j.row.GroupOf() == o.group) {
			kept = append(kept, j)
		}
	}
	return kept, nil
}

// filtered says whether opts select by anything but selectors.
func filtered(opts []SelectOption) bool {
	var o selectOptions
	for _, f := range opts {
		f(&o)
	}
	return o.state != "" || o.group != ""
}

// Jobs returns the selected jobs that pass the filter.
func (h *Host) Jobs(ctx context.Context, sel []string, f *api.Filter) ([]*api.Job, error) {
	var state api.State
	if f != nil {
		var err error
		if state, err = parseState(f.State); err != nil {
			return nil, err
		}
		if f.Newest < 0 {
			return nil, errorf(ErrBadRequest, "--newest %d: give a positive number of jobs", f.Newest)
		}
	}
	h.mu.Lock()
	if f != nil && f.Newest > 0 && len(sel) == 0 && state == "" && f.Command == "" && f.HasMoreData == nil && f.Type == "" && f.Group == "" && !f.IncludeChildJobs {
		// get --newest N of a big table: the N newest rows, without
		// sorting or viewing the rest.
		out := h.newestLocked(h.caller(ctx), f.Newest)
		h.mu.Unlock()
		return out, nil
	}
	js, err := h.selectLocked(h.caller(ctx), sel)
	if f != nil && f.IncludeChildJobs {
		js = withChildren(js)
	}
	var out []*api.Job
	for _, j := range js {
		out = append(out, j.viewLocked())
	}
	h.mu.Unlock()
	if err != nil || f == nil {
		return out, err
	}
	kept := out[:0]
	command := compileWildcard(f.Command)
	for _, v := range out {
		if state != "" && v.State != state {
			continue
		}
		if f.Command != "" {
			if !command.match(v.Command) {
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

// newestLocked is the views of the n newest jobs c may see, oldest first.
func (h *Host) newestLocked(c Caller, n int) []*api.Job {
	top := make([]*job, 0, n+1) // by id, descending
	for _, j := range h.jobs {
		if !j.visibleTo(c) || j.row.Parent != 0 || (len(top) == n && j.row.ID < top[n-1].row.ID) {
			continue
		}
		i := sort.Search(len(top), func(i int) bool { return top[i].row.ID < j.row.ID })
		top = append(top, nil)
		copy(top[i+1:], top[i:])
		top[i] = j
		if len(top) > n {
			top = top[:n]
		}
	}
	out := make([]*api.Job, len(top))
	for i, j := range top {
		out[len(top)-1-i] = j.viewLocked()
	}
	return out
}

// Wait blocks until every selected job (or, with any, one of them) has
// finished, or timeout (if positive) passes; it returns the finished jobs.
//
// With a state option the jobs are those in that state when the wait
// begins (Wait-Job -State Running waits for the jobs running now).
func (h *Host) Wait(ctx context.Context, sel []string, anyOne bool, timeout time.Duration, opts ...SelectOption) ([]*api.Job, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
		defer cancel()
	}
	var o selectOptions
	for _, f := range opts {
		f(&o)
	}
	if filtered(opts) {
		h.mu.Lock()
		js, err := h.selectFiltered(h.caller(ctx), sel, opts)
		h.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if len(js) == 0 {
			return nil, nil
		}
		sel = nil
		for _, j := range js {
			sel = append(sel, strconv.FormatUint(j.row.ID, 10))
		}
	}
	for {
		h.mu.Lock()
		js, err := h.selectLocked(h.caller(ctx), sel)
		if err != nil {
			h.mu.Unlock()
			return nil, err
		}
		var done []*api.Job
		var pending []string
		var waits []chan struct{}
		for _, j := range js {
			if j.row.State.Finished() || (j.row.State == api.Suspended && !o.untilFinished) {
				done = append(done, j.viewLocked())
			} else {
				pending = append(pending, strconv.FormatUint(j.row.ID, 10))
				waits = append(waits, j.changed)
			}
		}
		h.mu.Unlock()
		if len(pending) == 0 || (anyOne && len(done) > 0) {
			return done, nil
		}
		if err := waitAny(ctx, waits); err != nil {
			if context.Cause(ctx) == errWaitTimeout {
				return done, errorf(ErrTimeout, "timed out after %v; still running: job %s", timeout, strings.Join(pending, ", "))
			}
			return done, err
		}
	}
}

// errWaitTimeout tells Wait's own timeout from the caller's deadline.
var errWaitTimeout = errors.New("wait timed out")

// waitAny waits for one of chs to close.
func waitAny(ctx context.Context, chs []chan struct{}) error {
	if len(chs) == 1 {
		select {
		case <-chs[0]:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	woke := make(chan struct{}, len(chs))
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range chs {
		go func(ch chan struct{}) {
			select {
			case <-ch:
				woke <- struct{}{}
			case <-stop:
			}
		}(ch)
	}
	select {
	case <-woke:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop stops the selected jobs and waits until they have ended. A queued
// job is stopped at once; a running one gets the stop grace to end, then
// its processes are killed.
func (h *Host) Stop(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.mu.Lock()
	js, err := h.selectFiltered(h.caller(ctx), sel, opts)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	slurmJobs, js := onSlurm(h, js)
	if len(slurmJobs) > 0 {
		h.mu.Unlock()
		if err := h.stopSlurm(ctx, slurmJobs); err != nil {
			return nil, err
		}
		h.mu.Lock()
	}
	var frozen []*job
	for _, j := range js {
		if j.row.State == api.Suspended && j.row.SuspendedFrom == api.Running {
			frozen = append(frozen, j)
		}
	}
	if len(frozen) > 0 {
		// A stopped process takes no signal but SIGKILL: a suspended job
		// runs again to be stopped, so it gets its grace.
		h.mu.Unlock()
		for _, j := range frozen {
			if _, err := h.resumeJob(j); err != nil {
				return nil, err
			}
		}
		h.mu.Lock()
	}
	var ids []string
	for _, p := range slurmJobs {
		ids = append(ids, strconv.FormatUint(p.row.ID, 10))
	}
	type stopping struct {
		j  *job
		rt launch.Process
	}
	var running []stopping
	var queued []*job
	var unanswering []*launch.Attach
	for _, j := range js {
		ids = append(ids, strconv.FormatUint(j.row.ID, 10))
		switch {
		case j.row.State == api.Blocked && j.rt == nil && j.detached != nil:
			// Its runtime was stopped when this host started and cannot
			// answer: it is killed, with what the job started.
			unanswering = append(unanswering, &j.detached.Attach)
			j.detached = nil
			h.freeSlotLocked(j)
			h.finishLocked(j, api.Stopped, "stopped while its runtime was stopped (SIGSTOP); the runtime and what the job started were killed", nil)
			queued = append(queued, j)
		case j.row.State == api.Suspended && j.row.SuspendedFrom == api.Running:
			// Suspended again since it was resumed above.
			h.mu.Unlock()
			return nil, errorf(ErrBadRequest, "job %d (%s) was suspended again while being stopped; stop it again", j.row.ID, j.row.Name)
		case j.row.State == api.NotStarted || j.row.State == api.Suspended || (j.row.State == api.Running && j.rt == nil):
			// Queued, or its runtime is still starting: launch sees this.
			h.finishLocked(j, api.Stopped, "stopped before it started", nil)
			queued = append(queued, j)
		case j.row.State == api.Running || j.row.State == api.Stopping || j.row.State == api.Suspending:
			// A job being suspended is stopped as a running one: if its
			// runtime is stopped before it answers, it is killed.
			j.row.State = api.Stopping
			j.notifyLocked()
			running = append(running, stopping{j, j.rt})
		}
	}
	if len(queued) > 0 {
		// Jobs that run after these fail now.
		h.scheduleLocked()
	}
	h.mu.Unlock()
	for _, a := range unanswering {
		launch.End(a)
	}
	for _, j := range queued {
		h.persist(j)
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
			if err := s.rt.Conn().Stop(actx, s.j.row.ID, grace); err != nil {
				h.log.Warn("the runtime did not take the stop; killing it", "job", s.j.row.ID, "err", err)
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
			h.mu.Lock()
			done, ch := s.j.row.State.Finished(), s.j.changed
			h.mu.Unlock()
			if done {
				break
			}
			left := time.Until(deadline)
			if left <= 0 && !killed {
				h.log.Warn("the runtime did not end its job within the stop grace; killing it", "job", s.j.row.ID)
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
					return nil, fmt.Errorf("job %d did not end after its runtime was killed", s.j.row.ID)
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
	h.mu.Lock()
	js, err := h.selectFiltered(h.caller(ctx), sel, opts)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	var unfinished []string
	var unfinishedIDs []string
	done := js[:0:0]
	picked := map[uint64]bool{}
	for _, j := range js {
		picked[j.row.ID] = true
	}
	for _, j := range js {
		if p := h.jobs[j.row.Parent]; j.row.Parent != 0 && p != nil && !picked[p.row.ID] {
			h.mu.Unlock()
			return errorf(ErrBadRequest, "job %d (%s) is a child job of job %d (%s); remove the parent, which removes its children", j.row.ID, j.row.Name, p.row.ID, p.row.Name)
		}
		if j.row.Parent != 0 {
			continue // removed with its parent
		}
		if j.row.State.Finished() {
			done = append(done, j)
			continue
		}
		unfinished = append(unfinished, fmt.Sprintf("%d (%s, %s)", j.row.ID, j.row.Name, j.row.State))
		unfinishedIDs = append(unfinishedIDs, strconv.FormatUint(j.row.ID, 10))
	}
	h.mu.Unlock()
	if len(unfinished) > 0 && force {
		if _, err := h.Stop(ctx, unfinishedIDs); err != nil {
			return err
		}
		done = done[:0]
		for _, j := range js {
			if j.row.Parent == 0 {
				done = append(done, j)
			}
		}
		unfinished = nil
	}
	for _, j := range done {
		if err := h.removeTree(j, true); err != nil {
			return err
		}
	}
	if len(unfinished) > 0 {
		return errorf(ErrNotFinished, "job %s is not finished and was left; stop it first, or remove it with --force", strings.Join(unfinished, ", "))
	}
	return nil
}

// removeJob deletes j's row, then forgets it and its files. It does not
// wait for a receive in progress (its caller may have stopped reading); the
// receive notices the job is gone and ends. The row's delete (an fsynced
// bbolt transaction) happens outside Host.mu.
func (h *Host) removeJob(j *job) error { return h.removeIf(j, false) }

// removeFinished is removeJob for a job chosen because it was finished:
// if it is not finished by the time it can be removed (restarted in place
// meanwhile), it stays.
func (h *Host) removeFinished(j *job) error { return h.removeIf(j, true) }

func (h *Host) removeIf(j *job, onlyFinished bool) error {
	j.persistMu.Lock() // no row write may land after the delete
	defer j.persistMu.Unlock()
	h.mu.Lock()
	gone := j.removed || onlyFinished && !j.row.State.Finished()
	h.mu.Unlock()
	if gone {
		return nil
	}
	if err := h.store.Delete(j.row.ID); err != nil {
		return fmt.Errorf("cannot remove job %d: %w", j.row.ID, err)
	}
	h.mu.Lock()
	j.removed = true
	delete(h.jobs, j.row.ID)
	h.unindexLocked(j)
	if j.log != nil {
		j.log.Close()
	}
	j.notifyLocked()
	failed := h.settleDependentsLocked(j)
	h.mu.Unlock()
	for _, d := range failed {
		h.persist(d)
	}
	h.cursors.Drop(j.row.ID)
	h.journal.DropAttach(j.row.ID)
	os.Remove(h.payloadPath(j.row.ID))
	os.Remove(h.logPath(j.row.ID))
	os.Remove(h.runtimeLogPath(j.row.ID))
	return nil
}
