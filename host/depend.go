package host

import (
	"fmt"
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
func (h *Host) afterLocked(c Caller, sel []string, self uint64) ([]uint64, error) {
	if len(sel) == 0 {
		return nil, nil
	}
	for _, s := range sel {
		if strings.TrimSpace(s) == "" {
			return nil, errorf(ErrBadRequest, "--after: an empty job name")
		}
	}
	js, err := h.selectLocked(c, sel)
	if err != nil {
		return nil, errorf(ErrBadRequest, "--after: %w", err)
	}
	ids := make([]uint64, 0, len(js))
	for _, j := range js {
		ids = append(ids, j.row.ID)
	}
	if self != 0 {
		if path := h.cycleLocked(self, ids); path != nil {
			return nil, errorf(ErrBadRequest, "--after would make a cycle: %s; a job cannot (even indirectly) wait for itself", describePath(path))
		}
	}
	return ids, nil
}

// cycleLocked returns a chain of dependencies from one of deps back to
// self (self, dep, ..., self), if there is one.
func (h *Host) cycleLocked(self uint64, deps []uint64) []uint64 {
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
		if j := h.jobs[id]; j != nil {
			for _, d := range j.row.After {
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

// depsLocked says whether j's dependencies let it run now, and, if one of
// them ended in a way that means j never will, why.
func (h *Host) depsLocked(j *job) (ready bool, reason string) {
	ready = true
	for _, id := range j.row.After {
		d := h.jobs[id]
		if d == nil {
			continue
		}
		switch {
		case !d.row.State.Finished():
			ready = false
		case d.row.State != api.Completed && !j.row.AfterAnyState:
			return false, fmt.Sprintf("not run: job %d (%s), which it runs after, ended %s (with --after-any-state a job runs however those before it end)",
				id, d.row.Name, d.row.State)
		}
	}
	return ready, ""
}
