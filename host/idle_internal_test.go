package host

import (
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// A host is idle when every job is finished; what its stored definitions
// add is internal/triggers' TestIdle.
func TestIdleJobs(t *testing.T) {
	// Without a definition directory there is nothing to fire.
	if h := (&Host{jobs: map[uint64]*job{}}); !h.Idle() {
		t.Error("a host without definitions or jobs is not idle")
	}
	// Any state but a finished one is work.
	for _, st := range api.AllStates {
		h := &Host{jobs: map[uint64]*job{1: newJob(&store.Row{Job: api.Job{ID: 1, State: st}})}}
		if got, want := h.Idle(), st.Finished(); got != want {
			t.Errorf("a host whose one job is %s: Idle() = %v, want %v", st, got, want)
		}
	}
}
