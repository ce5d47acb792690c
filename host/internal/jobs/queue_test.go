package jobs

import (
	"fmt"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
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

// get --before, --after (by begin time, or creation for a job not begun)
// and --child-job-state (parents with a child in that state).
func TestQueryTimesAndChildState(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 3, 1, h, 0, 0, 0, time.UTC) }
	begun := func(h int) *time.Time { b := at(h); return &b }
	row := func(id uint64, st api.State, created int, begin *time.Time, parent uint64) *Job {
		return NewJob(&store.Row{Job: api.Job{ID: id, Name: fmt.Sprint("J", id), State: st, Created: at(created), PSBeginTime: begin}, Parent: parent})
	}
	parent := row(1, api.Running, 1, begun(2), 0)
	c1, c2 := row(2, api.Completed, 1, begun(2), 1), row(3, api.Failed, 1, begun(2), 1)
	parent.Children = []*Job{c1, c2}
	queued := row(4, api.NotStarted, 5, nil, 0)   // created at 5, not begun
	late := row(5, api.Completed, 3, begun(7), 0) // created at 3, began at 7
	tab := New(Config{})
	tab.PublishLocked(map[uint64]*Job{1: parent, 2: c1, 3: c2, 4: queued, 5: late})
	for _, tc := range []struct {
		name string
		f    api.Filter
		want string
	}{
		{"after 4", api.Filter{After: begun(4)}, "[4 5]"},
		{"before 5", api.Filter{Before: begun(5)}, "[1]"},
		{"from 5 to 7", api.Filter{After: begun(5), Before: begun(7)}, "[4]"},
		{"child failed", api.Filter{ChildJobState: "failed"}, "[1]"},
		{"child failed, with children", api.Filter{ChildJobState: "Failed", IncludeChildJobs: true}, "[1 2 3]"},
		{"child stopped", api.Filter{ChildJobState: "Stopped"}, "[]"},
	} {
		vs, err := tab.Query(Caller{UID: 0, Name: "root"}, nil, &tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []uint64
		for _, v := range vs {
			ids = append(ids, v.ID)
		}
		if got := fmt.Sprint(ids); got != tc.want && !(tc.want == "[]" && len(ids) == 0) {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
	if _, err := tab.Query(Caller{}, nil, &api.Filter{ChildJobState: "Done"}); err == nil {
		t.Error("an unknown --child-job-state was accepted")
	}
}

// queuedTable is a table whose default group runs limit jobs at once,
// with n plain jobs queued (ids 1 to n), after its first look: limit of
// them run. Its jobs' runs do nothing; their rows go to a store of its
// own. It is returned locked, and is unlocked and closed when tb ends.
func queuedTable(tb testing.TB, n, limit int) *Table {
	cfg := storedConfig(tb)
	cfg.MaxRunning, cfg.Run = limit, func(*Job) {}
	tab := New(cfg)
	loaded := map[uint64]*Job{}
	for i := 1; i <= n; i++ {
		loaded[uint64(i)] = NewJob(&store.Row{Job: api.Job{ID: uint64(i), State: api.NotStarted}})
	}
	tab.mu.Lock()
	tb.Cleanup(func() { // before the store's clean-up: it runs first
		tab.mu.Unlock()
		tab.Close()
	})
	tab.PublishLocked(loaded)
	tab.ScheduleLocked()
	return tab
}

// What a queue of plain jobs costs per job, with n jobs waiting in one
// group (5 at a time): a job's end, its slot freed and the next one
// started (next); the same beside n jobs waiting for another job
// (after), or for a time to come (timed); a failed job's removal
// (settle); a job added behind them, its look included (add). None may
// grow with the queue (go test -bench Queue ./host/internal/jobs/).
func BenchmarkQueue(b *testing.B) {
	for _, n := range []int{1000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("queued=%d/next", n), func(b *testing.B) {
			tab := queuedTable(b, n, 5)
			endInTurn(b, tab, tab.jobsFrom(1, n))
		})
		b.Run(fmt.Sprintf("after=%d/next", n), func(b *testing.B) {
			// 1,000 plain jobs, and n more that run after a job that
			// runs on: what a job's end costs the queue beside them.
			tab := queuedTable(b, 1000, 5)
			blocker := NewJob(&store.Row{Job: api.Job{ID: 1 << 40, State: api.Running, Group: "other"}})
			tab.jobs[blocker.Row.ID] = blocker
			for i := 1; i <= n; i++ {
				j := NewJob(&store.Row{Job: api.Job{ID: 1<<40 + uint64(i), State: api.NotStarted, After: []uint64{blocker.Row.ID}}})
				tab.jobs[j.Row.ID] = j
				tab.trackLocked(j)
			}
			tab.ScheduleLocked()
			endInTurn(b, tab, tab.jobsFrom(1, 1000))
		})
		b.Run(fmt.Sprintf("timed=%d/next", n), func(b *testing.B) {
			// 1,000 plain jobs, and n more held back until tomorrow
			// (start --at): what a job's end costs the queue beside them.
			tab := queuedTable(b, 1000, 5)
			at := tab.clock.now().Add(24 * time.Hour)
			for i := 1; i <= n; i++ {
				j := NewJob(&store.Row{Job: api.Job{ID: 1<<40 + uint64(i), State: api.NotStarted, StartAt: &at}})
				tab.jobs[j.Row.ID] = j
				tab.trackLocked(j)
			}
			tab.ScheduleLocked()
			endInTurn(b, tab, tab.jobsFrom(1, 1000))
		})
		b.Run(fmt.Sprintf("queued=%d/settle", n), func(b *testing.B) {
			// A failed job removed (its waiters failed with it, here
			// none) beside n queued jobs.
			tab := queuedTable(b, n, 5)
			settleUnwaited(b, tab)
		})
		b.Run(fmt.Sprintf("batch=%d/settle", n), func(b *testing.B) {
			// The same beside a batch of n children, all but 5 waiting.
			tab, _ := newBatch(b, 5, numbered(n))
			tab.mu.Lock()
			defer tab.mu.Unlock()
			settleUnwaited(b, tab)
		})
		b.Run(fmt.Sprintf("queued=%d/add", n), func(b *testing.B) {
			tab := queuedTable(b, n, 5)
			id := uint64(n)
			b.ResetTimer()
			for b.Loop() {
				id++
				j := NewJob(&store.Row{Job: api.Job{ID: id, State: api.NotStarted}})
				tab.jobs[id] = j
				tab.trackLocked(j)
				tab.ScheduleLocked()
			}
		})
	}
}

// settleUnwaited times the removal's settling of a failed job that no job
// waits for, in t, whose lock is held.
func settleUnwaited(b *testing.B, t *Table) {
	gone := NewJob(&store.Row{Job: api.Job{ID: 1 << 40, State: api.Failed}})
	for b.Loop() {
		if failed := t.settleDependentsLocked(gone); len(failed) != 0 {
			b.Fatalf("%d jobs failed, none waits for job %d", len(failed), gone.Row.ID)
		}
	}
}

// jobsFrom is tab's jobs with ids first to first+n-1.
func (t *Table) jobsFrom(first uint64, n int) []*Job {
	js := make([]*Job, n)
	for i := range js {
		js[i] = t.jobs[first+uint64(i)]
	}
	return js
}

// endInTurn times b.N ends of js's running jobs, oldest first, each with
// its slot freed and a look of the queue, as a runner's end makes: js are
// started in their order, and the timer stops when none is left. The
// table's lock is held.
func endInTurn(b *testing.B, t *Table, js []*Job) {
	next := 0 // the oldest that may be running
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for next < len(js) && js[next].Row.State != api.Running {
			next++
		}
		if next == len(js) {
			b.StopTimer()
			break
		}
		j := js[next]
		t.FinishLocked(j, api.Completed, "", nil)
		t.FreeSlotLocked(j)
		t.ScheduleLocked()
	}
}

// What the look after a job's failure costs when a chain of 2,000 jobs
// waits for it, each after the one before (--after), beside 20,000 jobs
// suspended in the queue that wait for it too: the whole chain fails in
// that look (go test -bench ChainFails ./host/internal/jobs/).
func BenchmarkChainFails(b *testing.B) {
	const chain, suspended = 2000, 20_000
	for b.Loop() {
		b.StopTimer()
		cfg := storedConfig(b)
		cfg.MaxRunning, cfg.Run = 100, func(*Job) {}
		tab := New(cfg)
		tab.mu.Lock()
		loaded := map[uint64]*Job{1: NewJob(&store.Row{Job: api.Job{ID: 1, State: api.Running}})}
		for id := uint64(2); id < 2+chain; id++ {
			loaded[id] = NewJob(&store.Row{Job: api.Job{ID: id, State: api.NotStarted, After: []uint64{id - 1}}})
		}
		for id := uint64(1 << 20); id < 1<<20+suspended; id++ {
			loaded[id] = NewJob(&store.Row{Job: api.Job{ID: id, State: api.Suspended, After: []uint64{1}}, SuspendedFrom: api.NotStarted})
		}
		tab.PublishLocked(loaded)
		tab.ScheduleLocked()
		b.StartTimer()
		tab.FinishLocked(loaded[1], api.Failed, "", nil)
		tab.ScheduleLocked()
		b.StopTimer()
		if last := loaded[1+chain]; last.Row.State != api.Failed {
			b.Fatalf("the chain's last job is %s after the look, want Failed", last.Row.State)
		}
		tab.mu.Unlock()
		tab.Close()
		b.StartTimer()
	}
}

// A definition keeps its newest keep runs, and its newest finished run
// while every run after it still goes: runs that overlap, or keep 1 as the
// next run begins, leave the last result to look at.
func TestPruneKeepsALastResult(t *testing.T) {
	tab := newStoredTable(t, func(*Job) {})
	var ids []uint64
	for range 5 {
		r := NewRow(Caller{}, "u", nil, store.Spec{}, api.Runtime{}, "ScheduledJob", "Backup", "/")
		r.Definition = "Backup"
		v, err := tab.Create(r, &sdk.Job{}, "Backup")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	// Runs 1 to 3 finished, 4 and 5 still going.
	tab.Lock()
	for _, id := range ids {
		j := tab.jobs[id]
		tab.MoveLocked(j, api.Running)
		if id <= ids[2] {
			tab.FinishLocked(j, api.Completed, "", nil)
		}
	}
	tab.Unlock()
	tab.Prune(0, "ScheduledJob", "Backup", 1)
	tab.Lock()
	defer tab.Unlock()
	for i, id := range ids {
		_, kept := tab.jobs[id]
		if want := i >= 2; kept != want {
			t.Errorf("run %d (%s) kept %v, want %v: keep 1 keeps the newest finished run and every run still going", id, map[bool]string{true: "finished", false: "running"}[i < 3], kept, want)
		}
	}
}
