package jobs

import (
	"fmt"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// The queue starts a group's jobs by priority, higher first, and jobs of
// one priority in id order; groups do not order each other.
func TestQueueOrder(t *testing.T) {
	type job struct {
		id       uint64
		priority int
		group    string
	}
	for _, tc := range []struct {
		name string
		jobs []job
		want []uint64 // the order they start in (a round's starts by id)
	}{
		{"ids alone", []job{{3, 0, ""}, {1, 0, ""}, {2, 0, ""}}, []uint64{1, 2, 3}},
		{"higher first", []job{{1, 0, ""}, {2, 5, ""}, {3, 1, ""}}, []uint64{2, 3, 1}},
		{"ties by id", []job{{1, 0, ""}, {4, 5, ""}, {2, 5, ""}}, []uint64{2, 4, 1}},
		{"negative waits behind", []job{{1, -1, ""}, {2, 0, ""}}, []uint64{2, 1}},
		{"per group", []job{{1, 0, "a"}, {2, 9, "b"}, {3, 5, "a"}}, []uint64{2, 3, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := New(Config{MaxRunning: 1, Run: func(*Job) {}})
			defer tab.Close()
			loaded := map[uint64]*Job{}
			for _, j := range tc.jobs {
				loaded[j.id] = NewJob(&store.Row{Job: api.Job{ID: j.id, State: api.NotStarted, Priority: j.priority, Group: j.group}})
			}
			tab.PublishLocked(loaded)
			// One slot per group: each round starts the head of each
			// group's queue; the round's starts are then finished.
			var got []uint64
			tab.mu.Lock()
			for range tc.jobs {
				tab.ScheduleLocked()
				var started []*Job
				for _, j := range loaded {
					if j.Row.State == api.Running {
						started = append(started, j)
					}
				}
				SortJobs(started)
				for _, j := range started {
					got = append(got, j.Row.ID)
					tab.FinishLocked(j, api.Completed, "", nil)
					tab.FreeSlotLocked(j)
				}
			}
			tab.mu.Unlock()
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("started %v, want %v", got, tc.want)
			}
		})
	}
}
