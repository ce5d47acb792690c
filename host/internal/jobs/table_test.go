package jobs

import (
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// A table is busy while a job is unfinished (the host is idle when it is
// not, and its stored definitions have nothing to fire: see host.Idle).
func TestBusy(t *testing.T) {
	if New(Config{}).Busy() {
		t.Error("an empty table is busy")
	}
	for _, st := range api.AllStates {
		tab := New(Config{})
		tab.PublishLocked(map[uint64]*Job{1: NewJob(&store.Row{Job: api.Job{ID: 1, State: st}})})
		if got, want := tab.Busy(), !st.Finished(); got != want {
			t.Errorf("a table whose one job is %s: Busy() = %v, want %v", st, got, want)
		}
	}
}
