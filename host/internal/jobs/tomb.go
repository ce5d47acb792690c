package jobs

import (
	"slices"
	"time"

	"github.com/bgjob/bgjob/host/store"
)

// A start --wait's job is removed by its caller's receive once the caller
// has all of it, and the caller's answer (the exit status) comes after.
// A host killed in between leaves a caller that sends the start again with
// its instance id, and a table with no job of that id: without more, the
// job would run a second time. So such a job (Row.Foreground), removed
// once it has ended, leaves a tomb (its instance id, owner and last row)
// in the journal, where a killed host's successor finds it, and a start
// naming that instance id gets the removed job's last row instead of a
// new job. A caller sends a start again within seconds, so a tomb is kept
// tombTTL, and only the newest maxTombs are: a loop of start --wait calls
// keeps the journal small.

const (
	tombTTL  = 2 * time.Minute
	maxTombs = 256
)

type tomb struct {
	id uint64
	store.Tomb
}

// tombs are the table's tombs, by instance key, and in the order they came
// (the oldest go first); guarded by the table's mu.
type tombs struct {
	byKey map[string]tomb
	order []string
}

// find returns the tomb of instance key k, if it is not too old.
func (ts *tombs) find(k string, now time.Time) (tomb, bool) {
	tb, ok := ts.byKey[k]
	return tb, ok && now.Sub(tb.At) < tombTTL
}

// add keeps tb, and drops the tombs older than tombTTL and the oldest past
// maxTombs (returned, to be dropped from the journal too).
func (ts *tombs) add(k string, tb tomb, now time.Time) (stale []uint64) {
	if ts.byKey == nil {
		ts.byKey = map[string]tomb{}
	}
	for len(ts.order) > 0 {
		old, ok := ts.byKey[ts.order[0]]
		if ok && now.Sub(old.At) < tombTTL && len(ts.byKey) < maxTombs {
			break
		}
		if ok {
			stale = append(stale, old.id)
			delete(ts.byKey, ts.order[0])
		}
		ts.order = ts.order[1:]
	}
	if !tb.At.IsZero() && now.Sub(tb.At) < tombTTL {
		ts.byKey[k] = tb
		ts.order = append(ts.order, k)
	} else {
		stale = append(stale, tb.id)
	}
	return stale
}

// buryLocked leaves a tomb for j, being removed, if it is a start --wait's
// job and has ended (one removed before it ran, say an undone submission,
// leaves none: the start sent again makes it).
func (t *Table) buryLocked(j *Job, now time.Time) (tb tomb, ok bool) {
	r := &j.Row
	if !r.Foreground || r.InstanceID == "" || !r.State.Finished() {
		return tomb{}, false
	}
	return tomb{id: r.ID, Tomb: store.Tomb{Instance: r.InstanceID, Owner: r.OwnerUID, At: now, Job: *j.ViewLocked()}}, true
}

// bury records tb in the journal and in the index, and forgets the tombs
// that are too old.
func (t *Table) bury(tb tomb) {
	_ = t.journal.SaveTomb(tb.id, tb.Tomb)
	t.mu.Lock()
	stale := t.tombs.add(instanceKey(tb.Instance), tb, time.Now())
	t.mu.Unlock()
	for _, id := range stale {
		t.journal.DropTomb(id)
	}
}

// LoadTombs takes the tombs a killed host left in the journal back into
// the index, and drops those too old to matter.
func (t *Table) LoadTombs() {
	now := time.Now()
	var all []tomb
	for id, st := range t.journal.Tombs() {
		all = append(all, tomb{id: id, Tomb: st})
	}
	// Oldest first, as they came: add keeps the newest maxTombs.
	slices.SortFunc(all, func(a, b tomb) int { return a.At.Compare(b.At) })
	var stale []uint64
	t.mu.Lock()
	for _, tb := range all {
		stale = append(stale, t.tombs.add(instanceKey(tb.Instance), tb, now)...)
	}
	t.mu.Unlock()
	for _, id := range stale {
		t.journal.DropTomb(id)
	}
}
