package jobs

import (
	"maps"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// A definition's runs are found through their index (RunGoing, LastRun,
// and Prune, tested on its own), which follows them as they are made, end, are removed, and as
// the table is published again after a load.
func TestDefinitionRunsFollowTheTable(t *testing.T) {
	tab := newStoredTable(t, func(*Job) {})
	mk := func(owner uint32, def string) *Job {
		t.Helper()
		r := NewRow(Caller{UID: owner}, "u", nil, store.Spec{}, api.Runtime{}, "ScheduledJob", def, "/")
		r.Definition = def
		v, err := tab.Create(r, &sdk.Job{}, "")
		if err != nil {
			t.Fatal(err)
		}
		tab.Lock()
		defer tab.Unlock()
		return tab.jobs[v.ID]
	}
	first := mk(0, "Backup")
	theirs := mk(1000, "Backup")
	mk(0, "Other")
	plain := mk(0, "") // started by hand, of no definition
	newest := mk(0, "Backup")
	going := func() bool { return tab.RunGoing(0, "ScheduledJob", "Backup") }
	if !going() {
		t.Fatal("two runs of Backup queued, and none said to be going")
	}
	tab.Lock()
	for _, j := range []*Job{first, newest, plain} {
		tab.MoveLocked(j, api.Running)
		tab.FinishLocked(j, api.Completed, "", nil)
	}
	tab.Unlock()
	if going() {
		t.Error("every run of Backup ended, and one is said to be going")
	}
	if !tab.RunGoing(1000, "ScheduledJob", "Backup") {
		t.Error("another user's run of a definition of the same name is not going: runs are per owner")
	}
	last := func() uint64 {
		t.Helper()
		at := tab.LastRun(0, "ScheduledJob", "Backup")
		tab.Lock()
		defer tab.Unlock()
		for _, j := range []*Job{first, newest} {
			if at != nil && j.Row.PSBeginTime != nil && at.Equal(*j.Row.PSBeginTime) {
				return j.Row.ID
			}
		}
		t.Fatalf("LastRun %v is neither run's begin time", at)
		return 0
	}
	if got := last(); got != newest.Row.ID {
		t.Errorf("the last run is job %d, want the newest, %d", got, newest.Row.ID)
	}
	if err := tab.RemoveFinished(newest); err != nil {
		t.Fatal(err)
	}
	if got := last(); got != first.Row.ID {
		t.Errorf("after the newest run's removal the last run is job %d, want %d", got, first.Row.ID)
	}
	// Published again, as a host publishes what it loaded.
	tab.Lock()
	tab.PublishLocked(maps.Clone(tab.jobs))
	tab.Unlock()
	if got := last(); got != first.Row.ID || !tab.RunGoing(1000, "ScheduledJob", "Backup") || going() {
		t.Errorf("after the table was published again: last run %d (want %d), theirs going %v, ours going %v",
			got, first.Row.ID, tab.RunGoing(1000, "ScheduledJob", "Backup"), going())
	}
	tab.Lock()
	tab.MoveLocked(theirs, api.Running)
	tab.FinishLocked(theirs, api.Failed, "", nil)
	tab.Unlock()
	if tab.RunGoing(1000, "ScheduledJob", "Backup") {
		t.Error("the other user's run ended, and is still said to be going")
	}
}

// BenchmarkRunGoing100k is a trigger's look for a run of its definition
// still going, in a table of 100,000 finished jobs of which 10 are its runs.
func BenchmarkRunGoing100k(b *testing.B) {
	tab := newStoredTable(b, func(*Job) {})
	loaded := map[uint64]*Job{}
	for id := uint64(1); id <= 100_000; id++ {
		r := NewRow(Caller{}, "u", nil, store.Spec{}, api.Runtime{}, "BackgroundJob", "true", "/")
		r.ID, r.State = id, api.Completed
		if id%10_000 == 0 {
			r.PSJobTypeName, r.Definition = "ScheduledJob", "Backup"
		}
		loaded[id] = NewJob(r)
	}
	tab.Lock()
	tab.PublishLocked(loaded)
	tab.Unlock()
	b.ResetTimer()
	for b.Loop() {
		if tab.RunGoing(0, "ScheduledJob", "Backup") {
			b.Fatal("a run said to be going; all have finished")
		}
	}
}
