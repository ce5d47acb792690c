package jobs

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/store"
)

// A job suspended in the queue before its start time, whose time comes
// while it is suspended (a look happening meanwhile), and which is then
// resumed into a full queue, says it waits for its group, not for a time
// that has passed.
func TestTimeCameWhileSuspended(t *testing.T) {
	tab := queuedTable(t, 3, 1) // job 1 runs, 2 and 3 wait: default full
	now := time.Now().Truncate(time.Second)
	tab.clock.now = func() time.Time { return now }
	at := now.Add(time.Hour)
	j := NewJob(&store.Row{Job: api.Job{ID: 10, State: api.NotStarted, StartAt: &at}})
	tab.jobs[j.Row.ID] = j
	tab.trackLocked(j)
	tab.ScheduleLocked()
	if _, note := j.waiting(); note != "at "+at.Format("15:04:05") {
		t.Fatalf("before its time: %q", note)
	}
	// Suspended in the queue (runner.Manager.Suspend).
	tab.MoveLocked(j, api.Suspended)
	j.Row.SuspendedFrom = api.NotStarted
	now = now.Add(2 * time.Hour)
	tab.ScheduleLocked() // any look: another job's start or end
	// Resumed (runner.Manager.Resume).
	tab.MoveLocked(j, api.NotStarted)
	j.Row.SuspendedFrom = ""
	tab.ScheduleLocked()
	if _, note := j.waiting(); note != "default full" {
		t.Errorf("resumed after its time came, in a full queue: says %q, want %q", note, "default full")
	}
}

// onItsWay stands for a runtime a job holds (j.RT): only whether it has
// one matters here.
type onItsWay struct{ launch.Process }

// A job that waits for another (--after) and whose attempt failed with a
// retry left is queued again while its runtime is still being released
// (j.RT set, as in runner.task between FinishLocked and freeLocked). If
// the job it runs after was restarted in place meanwhile, the retry waits
// for it again; and the job queued behind it starts in the slot it frees.
func TestRetryWhileRuntimeReleased(t *testing.T) {
	for _, look := range []bool{false, true} {
		name := map[bool]string{false: "no look in between", true: "a look in between"}[look]
		t.Run(name, func(t *testing.T) {
			cfg := storedConfig(t)
			cfg.MaxRunning, cfg.Run = 1, func(*Job) {}
			cfg.Settings = store.Settings{MaxRunning: map[string]int{"held": 0}}
			tab := New(cfg)
			defer tab.Close()
			d := NewJob(&store.Row{Job: api.Job{ID: 1, Name: "D", State: api.Completed, Group: "held"}, Spec: &store.Spec{}})
			j := NewJob(&store.Row{Job: api.Job{ID: 2, Name: "J", State: api.Running, After: []uint64{1}, Retries: 1, Attempt: 1}, Spec: &store.Spec{}})
			k := NewJob(&store.Row{Job: api.Job{ID: 3, Name: "K", State: api.NotStarted}, Spec: &store.Spec{}})
			tab.mu.Lock()
			defer tab.mu.Unlock()
			tab.PublishLocked(map[uint64]*Job{1: d, 2: j, 3: k})
			tab.HoldSlotLocked(j)
			j.RT = onItsWay{}
			tab.ScheduleLocked()
			// D is restarted in place while J runs (its group is held:
			// it stays queued).
			tab.MoveLocked(d, api.NotStarted)
			tab.ScheduleLocked()
			// J's attempt fails; it is queued again, its runtime not yet
			// released.
			code := 1
			tab.FinishLocked(j, api.Failed, "exit status 1", &code)
			if j.Row.State != api.NotStarted {
				t.Fatalf("J is %s, want NotStarted (a retry)", j.Row.State)
			}
			if look {
				tab.ScheduleLocked() // another job's end or a submit, say
			}
			// Its runtime is released (runner.task.freeLocked).
			j.RT = nil
			tab.FreeSlotLocked(j)
			tab.ScheduleLocked()
			if _, note := j.waiting(); j.Row.State != api.NotStarted || note != "after 1" {
				t.Errorf("J is %s (%q), want NotStarted after 1", j.Row.State, note)
			}
			if k.Row.State != api.Running {
				_, note := k.waiting()
				t.Errorf("K is %s (%q) with the default group's slot free; want it Running", k.Row.State, note)
			}
		})
	}
}

// A job after a batch starts when the batch's last child ends, and fails
// when one of them failed: the parent's state moves with settleBatchLocked.
func TestAfterABatch(t *testing.T) {
	t.Setenv("BGJOB_STRICT_STATES", "1")
	for _, end := range []api.State{api.Completed, api.Failed} {
		tab, p := newBatch(t, 1, numbered(3))
		tab.mu.Lock()
		j := tab.addLocked(&store.Row{Job: api.Job{ID: 100, State: api.NotStarted, Group: "x", After: []uint64{p.Row.ID}}, Spec: &store.Spec{}})
		tab.ScheduleLocked()
		if _, note := j.waiting(); note != fmt.Sprint("after ", p.Row.ID) {
			t.Fatalf("says %q", note)
		}
		for _, k := range p.Children {
			for k.Row.State == api.NotStarted {
				tab.ScheduleLocked()
			}
			tab.FinishLocked(k, end, "", nil)
			tab.FreeSlotLocked(k)
			tab.ScheduleLocked()
		}
		want := map[api.State]api.State{api.Completed: api.Running, api.Failed: api.Failed}[end]
		if p.Row.State != end || j.Row.State != want {
			t.Errorf("children %s: parent %s, the job after it %s (%q); want %s", end, p.Row.State, j.Row.State, j.Row.StateReason, want)
		}
		tab.mu.Unlock()
	}
}

// A job waiting for another starts when that one ends even if nothing
// looks at the queue after the end (a Slurm or SSH child's end makes
// none): the end itself brings a look.
func TestAnEndNoLookFollows(t *testing.T) {
	cfg := storedConfig(t)
	cfg.MaxRunning, cfg.Run = 1, func(*Job) {}
	tab := New(cfg)
	defer tab.Close()
	d := NewJob(&store.Row{Job: api.Job{ID: 1, Name: "D", State: api.Running, Group: "elsewhere"}, Spec: &store.Spec{}})
	j := NewJob(&store.Row{Job: api.Job{ID: 2, Name: "J", State: api.NotStarted, After: []uint64{1}}, Spec: &store.Spec{}})
	tab.mu.Lock()
	tab.PublishLocked(map[uint64]*Job{1: d, 2: j})
	tab.HoldSlotLocked(d)
	tab.mu.Unlock()
	tab.Start()
	tab.mu.Lock()
	if _, note := j.waiting(); note != "after 1" {
		t.Fatalf("J says %q, want after 1", note)
	}
	tab.FinishLocked(d, api.Completed, "", nil) // and no look
	tab.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		tab.mu.Lock()
		st := j.Row.State
		tab.mu.Unlock()
		if st == api.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("J is %s 10 s after the job it runs after completed", st)
		}
	}
}

// Jobs held until times to come (start --at) start as each time comes, in
// that order, whatever order they were queued in, a look reaching only
// those whose time came; those still to come say when, and the queue's
// timer is set for the first of them. Jobs moved to another time, or
// removed, on the way, are held to what they say now.
func TestTimedJobsStartAsTheirTimesCome(t *testing.T) {
	tab := queuedTable(t, 0, 100)
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	tab.clock.now = func() time.Time { return now }
	var armed, armedAt time.Time
	tab.clock.afterFunc = func(d time.Duration, _ func()) interface{ Stop() bool } {
		armed, armedAt = now.Add(d), now
		return time.NewTimer(time.Hour)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var js []*Job
	for id := uint64(1); id <= 60; id++ {
		at := now.Add(time.Duration(1+rng.IntN(45)) * time.Minute)
		j := NewJob(&store.Row{Job: api.Job{ID: id, State: api.NotStarted, StartAt: &at}})
		tab.jobs[id] = j
		tab.trackLocked(j)
		js = append(js, j)
	}
	tab.ScheduleLocked()
	for minute := 1; minute <= 50; minute++ {
		now = now.Add(time.Minute)
		switch minute {
		case 10: // one of those still to come is moved to later (edit --at)
			for _, j := range js {
				if j.Row.State == api.NotStarted {
					later := now.Add(30 * time.Minute)
					j.Row.StartAt = &later
					tab.retrackLocked(j)
					break
				}
			}
		case 20: // one is removed (stopped before it ran)
			for _, j := range js {
				if j.Row.State == api.NotStarted {
					tab.FinishLocked(j, api.Stopped, "", nil)
					break
				}
			}
		}
		tab.ScheduleLocked() // the timer's look, or any other
		var first time.Time
		for _, j := range js {
			at := *j.Row.StartAt
			switch {
			case j.Row.State == api.Stopped:
			case at.After(now):
				if j.Row.State != api.NotStarted {
					t.Fatalf("minute %d: job %d, due at %v, is %s", minute, j.Row.ID, at.Format("15:04"), j.Row.State)
				}
				if _, note := j.waiting(); note != "at "+at.Format("15:04:05") {
					t.Fatalf("minute %d: job %d, due at %v, says %q", minute, j.Row.ID, at.Format("15:04"), note)
				}
				if first.IsZero() || at.Before(first) {
					first = at
				}
			case j.Row.State != api.Running:
				t.Fatalf("minute %d: job %d, due at %v, is %s", minute, j.Row.ID, at.Format("15:04"), j.Row.State)
			}
		}
		// The timer is for the first time to come, or for wakeCheck after
		// it was set if that comes first (it looks at the clock again).
		want := first
		if check := armedAt.Add(wakeCheck); check.Before(first) {
			want = check
		}
		if !first.IsZero() && !armed.Equal(want) {
			t.Fatalf("minute %d: the timer is set for %v, want %v (the first time to come is %v)", minute, armed.Format("15:04"), want.Format("15:04"), first.Format("15:04"))
		}
	}
	if len(tab.timed) != 0 {
		t.Errorf("%d jobs are still held for a time, all times have come", len(tab.timed))
	}
}

// Group g runs one job at a time and runs none now. J (3) runs after T
// (2) whatever its end (--after-any-state); T starts at 09:01 after D (1),
// which failed, so T fails when its time comes. K (4) starts at 09:01 too.
// At 09:01 one look finds T failed and both J and K free to run: J comes
// first in queue order (same priority, lower id) and must take g's slot.
func TestAnyStateDependentOfATimedFailureKeepsItsTurn(t *testing.T) {
	for run := 0; run < 50; run++ {
		cfg := storedConfig(t)
		cfg.MaxRunning, cfg.Run = 1, func(*Job) {}
		cfg.Settings = store.Settings{MaxRunning: map[string]int{"g": 1}}
		tab := New(cfg)
		tab.mu.Lock()
		now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		tab.clock.now = func() time.Time { return now }
		tab.clock.afterFunc = func(time.Duration, func()) interface{ Stop() bool } { return time.NewTimer(time.Hour) }
		at := now.Add(time.Minute)
		d := NewJob(&store.Row{Job: api.Job{ID: 1, Name: "D", State: api.Failed}, Spec: &store.Spec{}})
		tj := NewJob(&store.Row{Job: api.Job{ID: 2, Name: "T", State: api.NotStarted, Group: "t", StartAt: &at, After: []uint64{1}}, Spec: &store.Spec{}})
		j := NewJob(&store.Row{Job: api.Job{ID: 3, Name: "J", State: api.NotStarted, Group: "g", After: []uint64{2}, AfterAnyState: true}, Spec: &store.Spec{}})
		k := NewJob(&store.Row{Job: api.Job{ID: 4, Name: "K", State: api.NotStarted, Group: "g", StartAt: &at}, Spec: &store.Spec{}})
		tab.PublishLocked(map[uint64]*Job{1: d, 2: tj, 3: j, 4: k})
		tab.ScheduleLocked()
		if _, note := j.waiting(); note != "after 2" {
			t.Fatalf("before 09:01, J says %q", note)
		}
		now = at
		tab.ScheduleLocked() // the timer's look
		_, jn := j.waiting()
		_, kn := k.waiting()
		tj2, js, ks := tj.Row.State, j.Row.State, k.Row.State
		tab.mu.Unlock()
		tab.Close()
		if tj2 != api.Failed || js != api.Running || ks != api.NotStarted {
			t.Fatalf("run %d: at 09:01 T is %s, J %s (%q), K %s (%q); want T Failed, J Running (first in queue order), K waiting", run, tj2, js, jn, ks, kn)
		}
	}
}
