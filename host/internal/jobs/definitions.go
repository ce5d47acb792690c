package jobs

import "time"

// A stored definition's runs are looked at by each of its triggers (is one
// still going? which old ones go?) and by `bgjob definition list` (when did
// the last begin?). The table indexes them by owner, job type and
// definition (t.runs, under t.mu), so each look costs that definition's
// runs, not the whole table, which may hold 100,000 finished jobs while a
// trigger fires every second.

// runsKey names one owner's runs of one definition.
type runsKey struct {
	owner     uint32
	typ, name string
}

func runsKeyOf(j *Job) (runsKey, bool) {
	if j.Row.Definition == "" {
		return runsKey{}, false
	}
	return runsKey{j.Row.OwnerUID, j.Row.PSJobTypeName, j.Row.Definition}, true
}

// indexRunLocked adds j to its definition's runs, if it is a run of one.
func (t *Table) indexRunLocked(j *Job) {
	k, ok := runsKeyOf(j)
	if !ok {
		return
	}
	if t.runs == nil {
		t.runs = map[runsKey]map[*Job]struct{}{}
	}
	if t.runs[k] == nil {
		t.runs[k] = map[*Job]struct{}{}
	}
	t.runs[k][j] = struct{}{}
}

// unindexRunLocked drops j from its definition's runs; before its row
// changes (a restart in place), as the key is read from it.
func (t *Table) unindexRunLocked(j *Job) {
	k, ok := runsKeyOf(j)
	if !ok {
		return
	}
	delete(t.runs[k], j)
	if len(t.runs[k]) == 0 {
		delete(t.runs, k)
	}
}

// prune keeps the newest keep runs of a definition (its owner's): older
// ones that have finished are removed with their records, as PowerShell
// keeps a scheduled job's last results. A run still going is left, and
// goes at a later run; and the newest finished run stays while every run
// after it still goes: runs started by hand beside the trigger's, or keep
// 1 as the next run begins, would otherwise leave no result to look at.
func (t *Table) Prune(owner uint32, typ, definition string, keep int) {
	t.mu.Lock()
	var runs []*Job
	for j := range t.runs[runsKey{owner, typ, definition}] {
		runs = append(runs, j)
	}
	SortJobs(runs)
	newestDone := -1
	for i, j := range runs {
		if j.Row.State.Finished() {
			newestDone = i
		}
	}
	var old []*Job
	for i := 0; i < len(runs)-keep; i++ {
		if runs[i].Row.State.Finished() && i != newestDone {
			old = append(old, runs[i])
		}
	}
	t.mu.Unlock()
	for _, j := range old {
		if err := t.RemoveFinished(j); err != nil {
			t.log.Warn("cannot remove an old result", "definition", definition, "job", j.Row.ID, "err", err)
		}
	}
}

// LastRun is when owner's newest run of the definition name of type typ
// started (or was created, if it has not started), for the trigger
// schedule; nil if there is none.
func (t *Table) LastRun(owner uint32, typ, name string) *time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var newest *Job
	for j := range t.runs[runsKey{owner, typ, name}] {
		if newest == nil || j.Row.ID > newest.Row.ID {
			newest = j
		}
	}
	if newest == nil {
		return nil
	}
	if newest.Row.PSBeginTime != nil {
		b := *newest.Row.PSBeginTime
		return &b
	}
	c := newest.Row.Created
	return &c
}

// RunGoing reports whether owner has a run of the definition name of type
// typ that has not finished (queued, running or suspended).
func (t *Table) RunGoing(owner uint32, typ, name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for j := range t.runs[runsKey{owner, typ, name}] {
		if !j.Row.State.Finished() {
			return true
		}
	}
	return false
}
