package jobs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bgjob/bgjob/host/api"
)

// Dependencies (start --after): a job waits as NotStarted until every job
// it runs after has finished. If one of them did not complete (it failed or
// was stopped), the job fails without running, its reason naming that job,
// unless it was started with --after-any-state. A dependency that is gone
// from the table finished before it went (only finished jobs are removed,
// and a job's dependents are settled the moment it finishes), so it no
// longer holds anyone up.

// afterLocked resolves --after's selectors, among the jobs c may see, to
// job ids; self is the job they are for when it exists already (restart
// --in-place), which may not come to run after itself.
func (t *Table) AfterLocked(c Caller, sel []string, self uint64) ([]uint64, error) {
	if len(sel) == 0 {
		return nil, nil
	}
	for _, s := range sel {
		if strings.TrimSpace(s) == "" {
			return nil, errorf(ErrBadRequest, "--after: an empty job name")
		}
		// A pattern that matches no job would leave nothing to wait
		// for: the job would run at once, not after what was meant.
		if IsPattern(s) {
			if js, _ := t.SelectLocked(c, []string{s}); len(js) == 0 {
				return nil, errorf(ErrBadRequest, "--after: %w", notFound(s))
			}
		}
	}
	js, err := t.SelectLocked(c, sel)
	if err != nil {
		return nil, errorf(ErrBadRequest, "--after: %w", err)
	}
	ids := make([]uint64, 0, len(js))
	for _, j := range js {
		ids = append(ids, j.Row.ID)
	}
	if self != 0 {
		if path := t.cycleLocked(self, ids); path != nil {
			return nil, errorf(ErrBadRequest, "--after would make a cycle: %s; a job cannot (even indirectly) wait for itself", describePath(path))
		}
	}
	return ids, nil
}

// cycleLocked returns a chain of dependencies from one of deps back to
// self (self, dep, ..., self), if there is one.
func (t *Table) cycleLocked(self uint64, deps []uint64) []uint64 {
	seen := map[uint64]bool{}
	var walk func(id uint64, path []uint64) []uint64
	walk = func(id uint64, path []uint64) []uint64 {
		path = append(path, id)
		if id == self {
			return path
		}
		if seen[id] {
			return nil
		}
		seen[id] = true
		if j := t.jobs[id]; j != nil {
			for _, d := range j.Row.After {
				if p := walk(d, path); p != nil {
					return p
				}
			}
		}
		return nil
	}
	for _, d := range deps {
		if p := walk(d, []uint64{self}); p != nil {
			return p
		}
	}
	return nil
}

func describePath(path []uint64) string {
	parts := make([]string, len(path))
	for i, id := range path {
		parts[i] = "job " + strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, " would run after ")
}

// depsLocked says whether j's dependencies let it run now; if not, what
// it waits for (the first of them not finished, and how many more); and,
// if one of them ended in a way that means j never will, why.
func (t *Table) depsLocked(j *Job) (ready bool, wait hold, reason string) {
	ready = true
	for _, id := range j.Row.After {
		d := t.jobs[id]
		if d == nil {
			continue
		}
		switch {
		case !d.Row.State.Finished():
			if ready {
				ready, wait = false, hold{kind: holdAfter, dep: d.Row.ID, depName: d.Row.Name}
			} else {
				wait.more++
			}
		case d.Row.State != api.Completed && !j.Row.AfterAnyState:
			return false, hold{}, notRun(d)
		}
	}
	return ready, wait, ""
}

// notRun is the reason of a job that did not run because d, which it runs
// after, did not complete.
func notRun(d *Job) string {
	return fmt.Sprintf("not run: job %d (%s), which it runs after, ended %s (with --after-any-state a job runs however those before it end)",
		d.Row.ID, d.Row.Name, d.Row.State)
}

// settleDependentsLocked fails, now, the unfinished jobs that run after
// gone (being removed) and will not run since it did not complete: once it
// is gone, nothing would tell a later look that it failed. A job waiting
// for one that completed needs nothing: a missing dependency counts as
// done. It returns the jobs it failed, for the caller to persist.
func (t *Table) settleDependentsLocked(gone *Job) []*Job {
	if gone.Row.State == api.Completed {
		return nil
	}
	// The queued jobs waiting for it: those in the lanes through the
	// index (walking a queue of 100,000 cost a removal 7 ms), and the
	// waiting children of the batches that wait for it, which are not in
	// the lanes.
	var waiting []*Job
	for j := range t.dependents[gone.Row.ID] {
		waiting = append(waiting, j)
	}
	for p := range t.batches {
		waiting = append(waiting, batchWaitingFor(p, gone)...)
	}
	var failed []*Job
	for _, j := range waiting {
		if j.Row.State.Finished() || !waitsFor(j, gone) {
			continue
		}
		queued := j.Row.State == api.NotStarted || j.Row.State == api.Suspended && j.Row.SuspendedFrom != api.Running
		if !queued || j.RT != nil {
			continue // running already
		}
		t.FinishLocked(j, api.Failed, notRun(gone), nil)
		failed = append(failed, j)
	}
	if len(failed) > 0 {
		// Their own dependents fail in turn.
		t.ScheduleLocked()
	}
	return failed
}

// waitsFor reports whether j runs only once gone has completed.
func waitsFor(j, gone *Job) bool {
	return !j.Row.AfterAnyState && slices.Contains(j.Row.After, gone.Row.ID)
}

// batchWaitingFor is batch p's waiting children if they wait for gone. A
// batch's children share the --after they were started with (edit and
// restart refuse them), so the first waiting child tells for all: a
// removal costs a batch that does not wait for the job nothing, where
// walking its children cost 100,000 of them. Under BGJOB_STRICT_STATES
// (the tests) it returns them all, each checked against the first.
func batchWaitingFor(p, gone *Job) []*Job {
	var kids []*Job
	start := 0
	if p.kids != nil {
		start = p.kids.next // none before it waits (kidQueue)
	}
	for _, k := range p.Children[start:] {
		if !k.queued {
			continue
		}
		if len(kids) == 0 && !strict() && !waitsFor(k, gone) {
			return nil
		}
		if strict() && len(kids) > 0 && !slices.Equal(k.Row.After, kids[0].Row.After) {
			panic(fmt.Sprintf("batch %d's children %d and %d wait for different jobs", p.Row.ID, kids[0].Row.ID, k.Row.ID))
		}
		kids = append(kids, k)
	}
	return kids // each still checked by the caller
}
