package jobs

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// fakeClock is the table's clock in these tests: the time is set by hand,
// and the queue's timer is a record of what it was armed for, fired by
// hand.
type fakeClock struct {
	now    time.Time
	armed  []time.Time // each arming, in order
	fire   func()      // the armed timer's function
	active bool
}

type fakeTimer struct{ c *fakeClock }

func (f fakeTimer) Stop() bool { was := f.c.active; f.c.active = false; return was }

// fireAt fires the armed timer with the wall clock at now.
func (c *fakeClock) fireAt(now time.Time) {
	c.now = now
	fire := c.fire
	c.active = false // fired
	fire()
}

// timedJob is a table on a fake clock at t0 holding job A, queued to
// start at at, and the timer it armed for it.
func timedJob(t *testing.T, t0, at time.Time) (*fakeClock, *Table, *Job) {
	c := &fakeClock{now: t0}
	tab := New(Config{MaxRunning: 5, Run: func(*Job) {}})
	c.install(tab)
	t.Cleanup(tab.Close)
	a := NewJob(&store.Row{Job: api.Job{ID: 1, Name: "A", State: api.NotStarted, StartAt: &at}, Spec: &store.Spec{}})
	tab.Lock()
	tab.PublishLocked(map[uint64]*Job{1: a})
	tab.ScheduleLocked()
	tab.Unlock()
	return c, tab, a
}

func (c *fakeClock) install(t *Table) {
	t.clock = clock{
		now: func() time.Time { return c.now },
		afterFunc: func(d time.Duration, f func()) interface{ Stop() bool } {
			c.armed = append(c.armed, c.now.Add(d))
			c.fire, c.active = f, true
			return fakeTimer{c}
		},
	}
}

// A job with a start time waits NotStarted, saying until when; the
// queue's one timer is armed for the earliest such time, re-armed when an
// earlier one comes, and disarmed when none is left; when it fires, the
// job whose time has come starts, once.
func TestQueueTimer(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	c := &fakeClock{now: t0}
	tab := New(Config{MaxRunning: 5})
	tab.cfg.Run = func(j *Job) {}
	c.install(tab)
	defer tab.Close()
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	a := NewJob(&store.Row{Job: api.Job{ID: 1, Name: "A", State: api.NotStarted, StartAt: at(time.Hour)}, Spec: &store.Spec{}})

	tab.Lock()
	defer tab.Unlock()
	tab.PublishLocked(map[uint64]*Job{1: a})
	tab.ScheduleLocked()
	v := a.ViewLocked()
	if v.State != api.NotStarted || v.StateReason != "starts at 2026-03-10 15:00:00 UTC" || v.StateNote != "at 15:00:00" {
		t.Fatalf("A: %s, %q, note %q; want NotStarted, starts at 15:00", v.State, v.StateReason, v.StateNote)
	}
	// The timer looks at the wall clock again within wakeCheck.
	wakes := func(at time.Time) time.Time {
		if check := c.now.Add(wakeCheck); check.Before(at) {
			return check
		}
		return at
	}
	if len(c.armed) != 1 || !c.armed[0].Equal(wakes(*a.Row.StartAt)) {
		t.Fatalf("the timer was armed for %v, want once for %v", c.armed, wakes(*a.Row.StartAt))
	}
	// Another look, nothing new: the timer stays as it is.
	tab.ScheduleLocked()
	if len(c.armed) != 1 {
		t.Fatalf("an unchanged queue re-armed the timer: %v", c.armed)
	}

	// An earlier job comes: the timer is for it now.
	b := NewJob(&store.Row{Job: api.Job{ID: 2, Name: "B", State: api.NotStarted, StartAt: at(30 * time.Second)}, Spec: &store.Spec{}})
	tab.jobs[2] = b
	tab.trackLocked(b)
	tab.ScheduleLocked()
	if n := len(c.armed); n != 2 || !c.armed[1].Equal(*b.Row.StartAt) {
		t.Fatalf("the timer was armed for %v, want B's time last", c.armed)
	}

	// B's time comes: the timer fires, B starts, the timer is for A.
	c.now = *b.Row.StartAt
	fire := c.fire
	tab.Unlock()
	fire()
	tab.Lock()
	if b.Row.State != api.Running || b.Row.Attempt != 1 {
		t.Fatalf("B at its time: %s, attempt %d; want Running, attempt 1", b.Row.State, b.Row.Attempt)
	}
	if a.Row.State != api.NotStarted || !c.armed[len(c.armed)-1].Equal(wakes(*a.Row.StartAt)) || !c.active {
		t.Fatalf("A: %s, timer armed for %v (active %v); want NotStarted, armed for A's time", a.Row.State, c.armed, c.active)
	}

	// A is stopped before its time: no timer is left.
	tab.FinishLocked(a, api.Stopped, "stopped before it started", nil)
	tab.ScheduleLocked()
	if c.active {
		t.Errorf("the timer is still armed with no job waiting for a time")
	}
	// B, started, is not started again by another look.
	tab.ScheduleLocked()
	if b.Row.Attempt != 1 {
		t.Errorf("B started again: attempt %d", b.Row.Attempt)
	}
}

// A host that was down at a job's time starts it at its first look.
func TestStartTimePassedWhileDown(t *testing.T) {
	c := &fakeClock{now: time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)}
	tab := New(Config{MaxRunning: 5, Run: func(*Job) {}})
	c.install(tab)
	defer tab.Close()
	past := c.now.Add(-time.Hour)
	a := NewJob(&store.Row{Job: api.Job{ID: 1, State: api.NotStarted, StartAt: &past}, Spec: &store.Spec{}})
	tab.Lock()
	defer tab.Unlock()
	tab.PublishLocked(map[uint64]*Job{1: a})
	tab.ScheduleLocked()
	if a.Row.State != api.Running || len(c.armed) != 0 {
		t.Errorf("a job whose time passed: %s, timer armed %v; want Running, no timer", a.Row.State, c.armed)
	}
}

// A failed attempt with retries left is queued again as the same job,
// after its retry delay, saying which attempt comes and why the last
// failed; a stop is not retried, a timeout is; the last attempt's failure
// is final.
func TestRetry(t *testing.T) {
	code := func(n int) *int { return &n }
	tests := []struct {
		name     string
		attempt  int
		timedOut bool
		state    api.State
		reason   string
		retried  bool
		final    string // the reason, retried or not
	}{
		{name: "failed, retries left", attempt: 1, state: api.Failed, reason: "exit status 3", retried: true, final: "attempt 1 of 3: exit status 3"},
		{name: "timed out", attempt: 2, timedOut: true, state: api.Stopped, reason: "stopped", retried: true, final: "attempt 2 of 3: timed out after 1m0s (stopped with the stop grace)"},
		{name: "the last attempt", attempt: 3, state: api.Failed, reason: "exit status 3", final: "attempt 3 of 3: exit status 3"},
		{name: "stopped by the user", attempt: 1, state: api.Stopped, reason: "stopped", final: "attempt 1 of 3: stopped"},
		{name: "completed", attempt: 1, state: api.Completed, reason: "", final: "attempt 1 of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClock{now: time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)}
			// What those following the job's events hear of its end: an
			// attempt that runs again is marked so (its hooks wait).
			var told []string
			tab := New(Config{MaxRunning: 5, Run: func(*Job) {}, Moved: func(j *Job, from api.State) {
				told = append(told, fmt.Sprintf("%s->%s retrying=%v", from, j.Row.State, j.Retrying))
			}})
			c.install(tab)
			defer tab.Close()
			j := NewJob(&store.Row{Job: api.Job{ID: 1, State: api.Running, Attempt: tt.attempt, Retries: 2, RetryDelay: 30 * time.Second, Timeout: time.Minute}, Spec: &store.Spec{}, LastSeq: 9, LogSize: 100})
			j.TimedOut = tt.timedOut
			tab.Lock()
			defer tab.Unlock()
			tab.PublishLocked(map[uint64]*Job{1: j})
			tab.HoldSlotLocked(j)
			tab.FinishLocked(j, tt.state, tt.reason, code(3))
			tab.FreeSlotLocked(j)
			tab.ScheduleLocked()
			if j.Row.StateReason != tt.final {
				t.Errorf("reason %q, want %q", j.Row.StateReason, tt.final)
			}
			end := fmt.Sprintf("Running->%s retrying=%v", map[bool]api.State{true: api.Failed, false: tt.state}[tt.retried || tt.timedOut], tt.retried)
			if len(told) == 0 || told[0] != end {
				t.Errorf("told %q, want first %q", told, end)
			}
			if !tt.retried {
				if !j.Row.State.Finished() || j.Row.StartAt != nil {
					t.Errorf("%s, start at %v; want it finished", j.Row.State, j.Row.StartAt)
				}
				return
			}
			want := c.now.Add(30 * time.Second)
			if j.Row.State != api.NotStarted || j.Row.StartAt == nil || !j.Row.StartAt.Equal(want) || j.Row.ExitCode != nil || j.Row.LastSeq != 0 || j.Row.LogSize != 0 || j.TimedOut {
				t.Fatalf("%s, start at %v, code %v, seq %d, log %d, timed out %v; want NotStarted at %v with a fresh log", j.Row.State, j.Row.StartAt, show(j.Row.ExitCode), j.Row.LastSeq, j.Row.LogSize, j.TimedOut, want)
			}
			if v := j.ViewLocked(); !strings.HasPrefix(v.StateReason, "attempt "+string(rune('0'+tt.attempt+1))+" of 3 starts at 2026-03-10 14:00:30 UTC; attempt") {
				t.Errorf("waiting: %q", v.StateReason)
			}
			// Its time comes: the next attempt runs.
			c.now = want
			tab.ScheduleLocked()
			if j.Row.State != api.Running || j.Row.Attempt != tt.attempt+1 || j.Row.StateReason != "attempt "+string(rune('0'+tt.attempt+1))+" of 3" {
				t.Errorf("after the delay: %s, attempt %d, %q", j.Row.State, j.Row.Attempt, j.Row.StateReason)
			}
		})
	}
}

// A restarted host takes back the runtime of an attempt the stored row
// does not know has failed (the host was killed before writing it), and
// not that of one it does: each attempt runs once.
func TestStaleAttach(t *testing.T) {
	tests := []struct {
		name    string
		state   api.State
		row     int // the stored row's attempt
		attach  int // the attach record's
		isStale bool
	}{
		{"the first attempt, row not written since", api.NotStarted, 0, 1, false},
		{"attempt 2 running, the row says 1 failed", api.NotStarted, 1, 2, false},
		{"attempt 1 failed and stored; its record left", api.NotStarted, 1, 1, true},
		{"attempt 2 could not launch: attempt 1's record left", api.NotStarted, 2, 1, true},
		{"a running row", api.Running, 2, 2, false},
	}
	for _, tt := range tests {
		r := &store.Row{Job: api.Job{State: tt.state, Attempt: tt.row}}
		if got := StaleAttach(r, tt.attach); got != tt.isStale {
			t.Errorf("%s: StaleAttach = %v, want %v", tt.name, got, tt.isStale)
		}
	}
}

// The queue's timer runs on the monotonic clock, the start times on the
// wall clock: a timer that fires while the wall clock says the job's time
// has not come (the clock was set back meanwhile) leaves a timer armed
// for it, and the job starts once its time comes.
func TestQueueTimerClockSetBack(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	at := t0.Add(time.Hour)
	c, tab, a := timedJob(t, t0, at)
	// The timer fires an hour later by the monotonic clock; the wall clock
	// was set back 10 minutes meanwhile.
	c.fireAt(at.Add(-10 * time.Minute))
	if !c.active {
		t.Fatalf("no timer armed for A (armed %v) after the timer fired early by the wall clock: A would wait for ever", c.armed)
	}
	c.fireAt(at)
	tab.Lock()
	defer tab.Unlock()
	if a.Row.State != api.Running {
		t.Errorf("A at its time: %s; want Running", a.Row.State)
	}
}

// The timer waits wakeCheck at the most, for the monotonic clock it runs
// on stands still while the machine sleeps: a job whose time came during a
// night's sleep starts within wakeCheck of the machine waking, not a
// night later.
func TestQueueTimerAfterSleep(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC)
	c, tab, a := timedJob(t, t0, t0.Add(4*time.Hour+30*time.Minute)) // 02:30
	if got := c.armed[len(c.armed)-1]; !got.Equal(t0.Add(wakeCheck)) {
		t.Fatalf("the timer was armed for %v; want %v, wakeCheck from now", got, t0.Add(wakeCheck))
	}
	// The machine slept from 22:00:10 to 07:00; the timer, a minute of
	// monotonic time, fires 50 s after the wake.
	c.fireAt(time.Date(2026, 3, 11, 7, 0, 50, 0, time.UTC))
	tab.Lock()
	defer tab.Unlock()
	if a.Row.State != api.Running {
		t.Errorf("A, due at 02:30, at 07:00:50: %s; want Running", a.Row.State)
	}
}

// A job its timeout stopped ends Failed with no exit code, as a stopped
// job does: the 0 its runtime's answer carries is not a status it exited
// with (a code of its own, 128+n, stays).
func TestTimedOutHasNoExitCode(t *testing.T) {
	for _, tt := range []struct {
		code int
		want *int
	}{{0, nil}, {137, func() *int { n := 137; return &n }()}} {
		tab := New(Config{MaxRunning: 5, Run: func(*Job) {}})
		j := NewJob(&store.Row{Job: api.Job{ID: 1, State: api.Running, Attempt: 1, Timeout: time.Second}, Spec: &store.Spec{}})
		j.TimedOut = true
		tab.Lock()
		tab.PublishLocked(map[uint64]*Job{1: j})
		tab.HoldSlotLocked(j)
		code := tt.code
		tab.FinishLocked(j, api.Stopped, "stopped", &code)
		v := j.ViewLocked()
		tab.Unlock()
		tab.Close()
		if v.State != api.Failed || show(v.ExitCode) != show(tt.want) {
			t.Errorf("runtime's code %d: %s, exit code %v; want Failed, exit code %v", tt.code, v.State, show(v.ExitCode), show(tt.want))
		}
	}
}
