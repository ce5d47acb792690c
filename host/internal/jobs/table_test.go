package jobs

import (
	"fmt"
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

// NewestLocked walks down from the largest id; it must find what a scan of
// the whole table finds, whatever ids are gone and whoever asks.
func TestNewestMatchesScan(t *testing.T) {
	alice, bob, root := Caller{UID: 1000, Name: "alice"}, Caller{UID: 1001, Name: "bob"}, Caller{UID: 0, Name: "root"}
	for _, tc := range []struct {
		name string
		ids  func(i uint64) (keep bool, owner uint32)
	}{
		{"dense, one owner", func(i uint64) (bool, uint32) { return true, 1000 }},
		{"every other owner", func(i uint64) (bool, uint32) { return true, uint32(1000 + i%2) }},
		{"most ids removed", func(i uint64) (bool, uint32) { return i%50 == 0, 1000 }},
		{"alice's jobs are old", func(i uint64) (bool, uint32) { return true, map[bool]uint32{true: 1000, false: 1001}[i < 20] }},
	} {
		tab := New(Config{})
		loaded := map[uint64]*Job{}
		for i := uint64(1); i <= 500; i++ {
			keep, owner := tc.ids(i)
			if !keep {
				continue
			}
			loaded[i] = NewJob(&store.Row{Job: api.Job{ID: i, State: api.Completed}, OwnerUID: owner})
		}
		tab.PublishLocked(loaded)
		for _, c := range []Caller{alice, bob, root} {
			for _, n := range []int{1, 5, 20, 1000} {
				var got, want []uint64
				for _, v := range tab.NewestLocked(c, n) {
					got = append(got, v.ID)
				}
				scan := tab.newestScanLocked(c, n)
				for i := len(scan) - 1; i >= 0; i-- {
					want = append(want, scan[i].Row.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: NewestLocked(%s, %d) = %v, want %v", tc.name, c.Name, n, got, want)
				}
			}
		}
	}
}

// The pending set is the jobs waiting to run, whatever moves they make.
func TestPendingFollowsMoves(t *testing.T) {
	tab := New(Config{})
	a := NewJob(&store.Row{Job: api.Job{ID: 1, State: api.NotStarted}})
	b := NewJob(&store.Row{Job: api.Job{ID: 2, State: api.Completed}})
	tab.PublishLocked(map[uint64]*Job{1: a, 2: b})
	check := func(when string, want ...*Job) {
		t.Helper()
		if len(tab.pending) != len(want) {
			t.Errorf("%s: %d pending, want %d", when, len(tab.pending), len(want))
		}
		for _, j := range want {
			if _, ok := tab.pending[j]; !ok {
				t.Errorf("%s: job %d is not pending", when, j.Row.ID)
			}
		}
	}
	check("loaded", a)
	tab.MoveLocked(a, api.Suspended)
	check("suspended in the queue", a)
	tab.MoveLocked(a, api.NotStarted)
	tab.MoveLocked(a, api.Running)
	check("running")
	tab.MoveLocked(b, api.NotStarted) // restarted in place
	check("restarted", b)
	tab.FinishLocked(b, api.Stopped, "stopped", nil)
	check("stopped")
}
