package jobs

import (
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// A job the queue leaves NotStarted says why, in full (StateReason) and in
// a word or two for the table (StateNote): the jobs it runs after, its
// group full or held, its thread jobs' throttle limit, or Slurm's queue.
func TestWhyAJobWaits(t *testing.T) {
	row := func(id uint64, name string, st api.State) *store.Row {
		return &store.Row{Job: api.Job{ID: id, Name: name, State: st}, Spec: &store.Spec{}}
	}
	running := func(id uint64, name string) *store.Row { return row(id, name, api.Running) }
	queued := func(id uint64, name string) *store.Row { return row(id, name, api.NotStarted) }
	with := func(r *store.Row, f func(r *store.Row)) *store.Row { f(r); return r }
	tests := []struct {
		name    string
		limits  map[string]int
		rows    []*store.Row
		reason  string // of the last row: a prefix of its StateReason
		note    string
		started bool // the last row runs
	}{
		{name: "after one", rows: []*store.Row{
			running(1, "Build"),
			with(queued(2, "Test"), func(r *store.Row) { r.After = []uint64{1} }),
		}, reason: "waiting for job 1 (Build)", note: "after 1"},
		{name: "after several, one done", rows: []*store.Row{
			running(1, "Build"),
			row(2, "Lint", api.Completed),
			running(3, "Docs"),
			with(queued(4, "Ship"), func(r *store.Row) { r.After = []uint64{2, 3, 1} }),
		}, reason: "waiting for job 3 (Docs) and 1 more", note: "after 3 +1"},
		{name: "group full", rows: []*store.Row{
			running(1, "A"),
			queued(2, "B"),
		}, reason: "group default is full (1 of 1 running)", note: "default full"},
		{name: "group held", limits: map[string]int{"gpu": 0}, rows: []*store.Row{
			with(queued(1, "Train"), func(r *store.Row) { r.Group = "gpu" }),
		}, reason: "group gpu is held (max-running 0); bgjob queue --group gpu --max-running N lets it run", note: "gpu held"},
		{name: "after, with its group full too: the dependency first", rows: []*store.Row{
			running(1, "A"),
			with(queued(2, "B"), func(r *store.Row) { r.After = []uint64{1} }),
		}, reason: "waiting for job 1 (A)", note: "after 1"},
		{name: "throttled", rows: []*store.Row{
			with(running(1, "T1"), func(r *store.Row) { r.ThrottleLimit = 1 }),
			with(queued(2, "T2"), func(r *store.Row) { r.ThrottleLimit = 1 }),
		}, reason: "its thread jobs' throttle limit is reached (1 of 1 running)", note: "throttled"},
		{name: "room: it runs, with no reason", limits: map[string]int{"default": 2}, rows: []*store.Row{
			running(1, "A"),
			queued(2, "B"),
		}, started: true},
		{name: "Slurm's queue: the poller's reason", rows: []*store.Row{
			with(queued(1, "OnSlurm"), func(r *store.Row) {
				r.Slurm = &store.SlurmJob{}
				r.StateReason = "Slurm job 77: pending (Resources)"
			}),
		}, reason: "Slurm job 77: pending (Resources)", note: "Slurm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := New(Config{MaxRunning: 1, Settings: store.Settings{MaxRunning: tt.limits}, Run: func(*Job) {}})
			defer tab.Close()
			loaded := map[uint64]*Job{}
			var last *Job
			for _, r := range tt.rows {
				last = NewJob(r)
				loaded[r.ID] = last
			}
			tab.Lock()
			defer tab.Unlock()
			tab.PublishLocked(loaded)
			for _, j := range loaded {
				if j.Row.State == api.Running {
					tab.HoldSlotLocked(j)
				}
			}
			tab.ScheduleLocked()
			v := last.ViewLocked()
			if tt.started {
				if v.State != api.Running || v.StateReason != "" || v.StateNote != "" {
					t.Errorf("the job is %s (%q, note %q), want Running with no reason", v.State, v.StateReason, v.StateNote)
				}
				return
			}
			if v.State != api.NotStarted || v.StateReason != tt.reason || v.StateNote != tt.note {
				t.Errorf("the job is %s, reason %q, note %q; want NotStarted, %q, %q", v.State, v.StateReason, v.StateNote, tt.reason, tt.note)
			}
			if last.Row.StateReason != "" && last.Row.Slurm == nil {
				t.Errorf("the reason was written into the row (%q): it is worked out on each look, never stored", last.Row.StateReason)
			}
		})
	}
}

// A waiting job's reason follows the queue: when what held it goes, it
// runs and says nothing more; a job that leaves NotStarted otherwise
// (suspended in the queue) does not keep the queue's reason.
func TestWhyAJobWaitsChanges(t *testing.T) {
	tab := New(Config{MaxRunning: 1, Run: func(*Job) {}})
	defer tab.Close()
	a := NewJob(&store.Row{Job: api.Job{ID: 1, Name: "A", State: api.Running}, Spec: &store.Spec{}})
	b := NewJob(&store.Row{Job: api.Job{ID: 2, Name: "B", State: api.NotStarted}, Spec: &store.Spec{}})
	c := NewJob(&store.Row{Job: api.Job{ID: 3, Name: "C", State: api.NotStarted, After: []uint64{2}}, Spec: &store.Spec{}})
	tab.Lock()
	defer tab.Unlock()
	tab.PublishLocked(map[uint64]*Job{1: a, 2: b, 3: c})
	tab.HoldSlotLocked(a)
	tab.ScheduleLocked()
	if v := b.ViewLocked(); v.StateNote != "default full" {
		t.Fatalf("B: note %q, want default full", v.StateNote)
	}
	if v := c.ViewLocked(); v.StateNote != "after 2" {
		t.Fatalf("C: note %q, want after 2", v.StateNote)
	}

	// A ends: B runs, and says no more why it waited.
	tab.FinishLocked(a, api.Completed, "", nil)
	tab.FreeSlotLocked(a)
	tab.ScheduleLocked()
	if v := b.ViewLocked(); v.State != api.Running || v.StateReason != "" || v.StateNote != "" {
		t.Errorf("B: %s, reason %q, note %q; want Running with no reason", v.State, v.StateReason, v.StateNote)
	}
	// C still waits for B, its group full now too: B is what it says.
	if v := c.ViewLocked(); v.StateNote != "after 2" || !strings.Contains(v.StateReason, "job 2 (B)") {
		t.Errorf("C: reason %q, note %q; want it waiting for job 2 (B)", v.StateReason, v.StateNote)
	}
	// Suspended in the queue: its state says it all.
	tab.MoveLocked(c, api.Suspended)
	if v := c.ViewLocked(); v.StateReason != "" || v.StateNote != "" {
		t.Errorf("a job suspended in the queue: reason %q, note %q; want none", v.StateReason, v.StateNote)
	}
}

// A stopped job has no exit code unless its runtime gave one of its own:
// the 0 of a runtime's answer for a stopped job is not a status it exited
// with. Rows an older host wrote with that 0 show none either.
func TestStoppedHasNoExitCode(t *testing.T) {
	code := func(n int) *int { return &n }
	tests := []struct {
		state api.State
		code  *int
		want  *int
	}{
		{api.Stopped, code(0), nil},
		{api.Stopped, nil, nil},
		{api.Stopped, code(143), code(143)},
		{api.Completed, code(0), code(0)},
		{api.Failed, code(0), code(0)},
		{api.Failed, code(3), code(3)},
	}
	for _, tt := range tests {
		tab := New(Config{})
		j := NewJob(&store.Row{Job: api.Job{ID: 1, State: api.Running}})
		tab.Lock()
		tab.FinishLocked(j, tt.state, "", tt.code)
		got, view := j.Row.ExitCode, j.ViewLocked().ExitCode
		tab.Unlock()
		if !sameCode(got, tt.want) || !sameCode(view, tt.want) {
			t.Errorf("%s with code %v: row %v, view %v; want %v", tt.state, show(tt.code), show(got), show(view), show(tt.want))
		}
		// As an older host stored it.
		old := NewJob(&store.Row{Job: api.Job{ID: 2, State: tt.state, ExitCode: tt.code}})
		if v := old.ViewLocked().ExitCode; !sameCode(v, tt.want) {
			t.Errorf("a stored %s row with code %v shows %v, want %v", tt.state, show(tt.code), show(v), show(tt.want))
		}
	}
}

func sameCode(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func show(c *int) any {
	if c == nil {
		return "none"
	}
	return *c
}
