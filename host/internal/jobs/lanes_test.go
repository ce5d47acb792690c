package jobs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// walkQueue is what a look of the queue must do, worked out the plain way
// (the way the queue did it before its lanes): every startable queued job
// in queueOrder, each started if its time has come, its dependencies let
// it and its group (or its thread jobs) have room. It changes nothing; it
// returns the ids it would start and the ids it would fail.
func walkQueue(tab *Table, now time.Time) (started, failed []uint64) {
	var queued []*Job
	for j := range tab.pending {
		if startable(j) {
			queued = append(queued, j)
		}
	}
	slices.SortFunc(queued, queueOrder)
	running, threads := map[string]int{}, map[string]int{}
	for k, v := range tab.running {
		running[k] = v
	}
	for k, v := range tab.threads {
		threads[k] = v
	}
	for _, j := range queued {
		if j.Row.StartAt != nil && now.Before(*j.Row.StartAt) {
			continue
		}
		if ready, _, reason := tab.depsLocked(j); reason != "" {
			failed = append(failed, j.Row.ID)
			continue
		} else if !ready {
			continue
		}
		if j.Row.ThrottleLimit > 0 {
			k := threadKey(&j.Row)
			if threads[k] < j.Row.ThrottleLimit {
				threads[k]++
				started = append(started, j.Row.ID)
			}
			continue
		}
		g := j.Row.GroupOf()
		if running[g] < tab.limitLocked(g) {
			running[g]++
			started = append(started, j.Row.ID)
		}
	}
	slices.Sort(started)
	slices.Sort(failed)
	return started, failed
}

// The lanes start, and fail, exactly the jobs one walk of the whole queue
// in order would, over random queues: two groups with limits of 0 to 3,
// priorities, thread jobs sharing a process with throttle limits of 1 to
// 3, start times past and to come, dependencies (one or two) on
// jobs that run, ended or will be restarted, retries; step after step,
// what a host does between looks: an attempt ends, its runtime is released
// a step or more later, a queued job is suspended or resumed, a finished
// one (what others wait for among them) is restarted in place, an hour
// passes. And each job left waiting says why, as the walk finds it.
func TestLanesStartWhatAWalkWould(t *testing.T) {
	t.Setenv("BGJOB_STRICT_STATES", "1")
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 5))
	cfg := storedConfig(t)
	cfg.Run = func(*Job) {}
	for table := 0; table < 400; table++ {
		limits := map[string]int{"default": rng.IntN(4), "a": rng.IntN(4)}
		cfg.Settings = store.Settings{MaxRunning: limits}
		tab := New(cfg)
		tab.clock.now = func() time.Time { return now }
		tab.clock.afterFunc = func(time.Duration, func()) interface{ Stop() bool } { return time.NewTimer(time.Hour) }
		loaded := map[uint64]*Job{}
		for id, st := range map[uint64]api.State{1: api.Running, 2: api.Completed, 3: api.Failed} {
			loaded[id] = NewJob(&store.Row{Job: api.Job{ID: id, Name: fmt.Sprint("D", id), State: st, Group: "z"}, Spec: &store.Spec{}})
		}
		n := 4 + rng.IntN(30)
		for id := uint64(4); id < uint64(4+n); id++ {
			r := &store.Row{Job: api.Job{ID: id, State: api.NotStarted, Priority: rng.IntN(3) - 1}, Spec: &store.Spec{Runtime: "shell"}}
			if rng.IntN(2) == 0 {
				r.Group = "a"
			}
			if rng.IntN(4) == 0 {
				r.ThrottleLimit = 1 + rng.IntN(3) // thread jobs sharing a process
			}
			if rng.IntN(5) == 0 {
				at := now.Add(time.Duration(rng.IntN(3)-1) * time.Hour) // past, now or to come
				r.StartAt = &at
			}
			if rng.IntN(3) == 0 {
				r.After = []uint64{1 + uint64(rng.IntN(3))}
				if rng.IntN(2) == 0 {
					r.After = append(r.After, 1+r.After[0]%3)
				}
				r.AfterAnyState = rng.IntN(3) == 0
			}
			if rng.IntN(3) == 0 {
				r.Retries = 1 + rng.IntN(2)
				if rng.IntN(2) == 0 {
					r.RetryDelay = time.Hour
				}
			}
			loaded[id] = NewJob(r)
		}
		tab.Lock()
		tab.PublishLocked(loaded)
		tab.HoldSlotLocked(loaded[1])
		loaded[1].RT = onItsWay{}
		var releasing []*Job
		var history []string
		pick := func(ok func(*Job) bool) *Job {
			var js []*Job
			for id := uint64(1); id < uint64(4+n); id++ {
				if ok(loaded[id]) {
					js = append(js, loaded[id])
				}
			}
			if len(js) == 0 {
				return nil
			}
			return js[rng.IntN(len(js))]
		}
		for step := 0; step < 40; step++ {
			what := ""
			switch rng.IntN(7) {
			case 0, 1: // a running job's attempt ends
				if j := pick(func(j *Job) bool { return j.Row.State == api.Running && !slices.Contains(releasing, j) }); j != nil {
					tab.FinishLocked(j, []api.State{api.Completed, api.Failed}[rng.IntN(2)], "", nil)
					releasing = append(releasing, j)
					what = fmt.Sprint("end ", j.Row.ID)
				}
			case 2: // its runtime released, its slot freed
				if len(releasing) > 0 {
					i := rng.IntN(len(releasing))
					j := releasing[i]
					releasing = slices.Delete(releasing, i, i+1)
					j.RT = nil
					tab.FreeSlotLocked(j)
					what = fmt.Sprint("release ", j.Row.ID)
				}
			case 3: // suspended in the queue
				if j := pick(func(j *Job) bool { return startable(j) }); j != nil {
					tab.MoveLocked(j, api.Suspended)
					j.Row.SuspendedFrom = api.NotStarted
					what = fmt.Sprint("suspend ", j.Row.ID)
				}
			case 4: // resumed
				if j := pick(func(j *Job) bool { return j.Row.State == api.Suspended }); j != nil {
					tab.MoveLocked(j, api.NotStarted)
					j.Row.SuspendedFrom = ""
					what = fmt.Sprint("resume ", j.Row.ID)
				}
			case 5: // restarted in place
				if j := pick(func(j *Job) bool { return j.Row.State.Finished() && j.RT == nil }); j != nil {
					j.Row.Attempt, j.Row.StartAt = 0, nil
					tab.MoveLocked(j, api.NotStarted)
					what = fmt.Sprint("restart ", j.Row.ID)
				}
			case 6:
				now = now.Add(time.Hour)
				what = "an hour"
			}
			history = append(history, what)
			wantStarted, wantFailed := walkQueue(tab, now)
			before := map[uint64]api.State{}
			for id, j := range loaded {
				before[id] = j.Row.State
			}
			tab.ScheduleLocked()
			var started, failed []uint64
			for id, j := range loaded {
				if before[id] == api.NotStarted && j.Row.State == api.Running {
					started = append(started, id)
					j.RT = onItsWay{}
				}
				if before[id] == api.NotStarted && j.Row.State == api.Failed {
					failed = append(failed, id)
				}
			}
			slices.Sort(started)
			slices.Sort(failed)
			if fmt.Sprint(started, failed) != fmt.Sprint(wantStarted, wantFailed) {
				t.Fatalf("table %d step %d (limits %v; steps %v): started %v, failed %v; a walk of the queue starts %v, fails %v",
					table, step, limits, history, started, failed, wantStarted, wantFailed)
			}
			for _, j := range loaded {
				if startable(j) && j.queued {
					func() {
						defer func() {
							if r := recover(); r != nil {
								t.Fatalf("table %d step %d (steps %v): %v", table, step, history, r)
							}
						}()
						checkWaiting(t, tab, j, now)
					}()
				}
			}
		}
		tab.Unlock()
		tab.Close()
	}
}

// checkWaiting fails t unless queued job j says why it waits as a walk of
// the queue finds it: its time, then its dependencies, then its slot.
func checkWaiting(t *testing.T, tab *Table, j *Job, now time.Time) {
	t.Helper()
	_, note := j.waiting()
	var want string
	switch ready, wait, _ := tab.depsLocked(j); {
	case j.Row.StartAt != nil && now.Before(*j.Row.StartAt):
		want = "at " + j.Row.StartAt.Format("15:04:05")
	case !ready:
		want = fmt.Sprint("after ", wait.dep)
		if wait.more > 0 {
			want += fmt.Sprint(" +", wait.more)
		}
	case j.Row.ThrottleLimit > 0:
		want = "throttled"
	default:
		g := j.Row.GroupOf()
		want = g + " full"
		if tab.limitLocked(g) == 0 {
			want = g + " held"
		}
		if tab.running[g] < tab.limitLocked(g) {
			t.Fatalf("job %d waits in group %s, which has room (%d of %d)", j.Row.ID, g, tab.running[g], tab.limitLocked(g))
		}
	}
	if note != want {
		t.Fatalf("job %d (priority %d, group %q, throttle %d) says %q, want %q", j.Row.ID, j.Row.Priority, j.Row.Group, j.Row.ThrottleLimit, note, want)
	}
}

// A job that waits for a time or for other jobs is looked at wherever it
// stands in a full queue: the queue's timer is set for its time, and a
// dependency that failed fails it at once, not when its turn comes. Once
// its time has come it waits for its turn like any other.
func TestGatedJobsDeepInAFullQueue(t *testing.T) {
	tab := queuedTable(t, 1000, 1)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	failed := NewJob(&store.Row{Job: api.Job{ID: 2000, Name: "Broke", State: api.Failed}})
	timed := NewJob(&store.Row{Job: api.Job{ID: 2001, State: api.NotStarted, StartAt: &at}})
	after := NewJob(&store.Row{Job: api.Job{ID: 2002, State: api.NotStarted, After: []uint64{2000}}})
	past := at.Add(-2 * time.Hour)
	came := NewJob(&store.Row{Job: api.Job{ID: 2003, State: api.NotStarted, StartAt: &past}})
	for _, j := range []*Job{failed, timed, after, came} {
		tab.jobs[j.Row.ID] = j
		tab.trackLocked(j)
	}
	tab.ScheduleLocked()
	if !tab.wakeAt.Equal(at) {
		t.Errorf("the queue's timer is set for %v, want %v (the time of the job behind 1000 others)", tab.wakeAt, at)
	}
	if _, note := timed.waiting(); note != "at "+at.Format("15:04:05") {
		t.Errorf("the timed job says %q", note)
	}
	if after.Row.State != api.Failed || !strings.Contains(after.Row.StateReason, "job 2000 (Broke)") {
		t.Errorf("the job after a failed one is %s (%q), want Failed at once", after.Row.State, after.Row.StateReason)
	}
	if came.timedIdx != 0 || came.gated {
		t.Error("a job whose time has come is still looked at on every look")
	}
	if _, note := came.waiting(); note != "default full" {
		t.Errorf("the job whose time has come says %q, want default full", note)
	}
	if _, note := tab.jobs[500].waiting(); note != "default full" {
		t.Errorf("job 500 of 1000 says %q, want default full", note)
	}
}

// A queued job whose priority changes moves in its lane when the change is
// told (retrackLocked, as edit does), and the queue's check catches a
// change that was not.
func TestRetrackMovesAJob(t *testing.T) {
	tab := queuedTable(t, 10, 1)
	j := tab.jobs[8]
	j.Row.Priority = 5
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a priority changed without retrackLocked passed the lanes' check")
			}
		}()
		tab.checkLanesLocked()
	}()
	tab.retrackLocked(j)
	tab.checkLanesLocked()
	tab.FinishLocked(tab.jobs[1], api.Completed, "", nil)
	tab.FreeSlotLocked(tab.jobs[1])
	tab.ScheduleLocked()
	if j.Row.State != api.Running || tab.jobs[2].Row.State != api.NotStarted {
		t.Errorf("after job 1: job 8 (priority 5) is %s and job 2 %s; want job 8 first", j.Row.State, tab.jobs[2].Row.State)
	}
}
