package jobs

// A parent job stands for its child jobs (a job at a location: one child
// per Slurm task or computer; a batch: one per item), as in PowerShell.

import (
	"fmt"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// FinishParentLocked ends parent p of a location's job, whose children have
// all finished, as PowerShell's parent job ends: Failed if one failed (the
// first, named with where it ran), else Stopped if one was stopped, else
// Completed; its exit code is the first of its children's that is not 0.
// Jobs that run after it may start.
func (t *Table) FinishParentLocked(p *Job) {
	code := 0
	var failed, stopped *Job
	for _, k := range p.Children {
		if k.Row.ExitCode != nil && *k.Row.ExitCode != 0 && code == 0 {
			code = *k.Row.ExitCode
		}
		switch {
		case k.Row.State == api.Failed && failed == nil:
			failed = k
		case k.Row.State == api.Stopped && stopped == nil:
			stopped = k
		}
	}
	state, reason := api.Completed, ""
	if failed != nil {
		state, reason = api.Failed, fmt.Sprintf("child job %d (%s, on %s) failed: %s", failed.Row.ID, failed.Row.Name, failed.Row.Location, failed.Row.StateReason)
	} else if stopped != nil {
		state, reason = api.Stopped, stopped.Row.StateReason
	}
	t.FinishLocked(p, state, reason, &code)
	t.ScheduleLocked()
}

// ClaimParentsLocked splits js into the parents of the jobs a location
// runs (mine says which rows are its), each once, a child standing for its
// parent, and the rest: a location stops a parent with its children.
func (t *Table) ClaimParentsLocked(js []*Job, mine func(*store.Row) bool) (parents, rest []*Job) {
	seen := map[uint64]bool{}
	for _, j := range js {
		if !mine(&j.Row) {
			rest = append(rest, j)
			continue
		}
		p := j
		if j.Row.Parent != 0 {
			if p = t.GetLocked(j.Row.Parent); p == nil {
				continue
			}
		}
		if !seen[p.Row.ID] {
			seen[p.Row.ID] = true
			parents = append(parents, p)
		}
	}
	return parents, rest
}
