package host_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

func after(sel ...string) func(*api.StartRequest) {
	return func(r *api.StartRequest) { r.After = sel }
}

func inGroup(g string) func(*api.StartRequest) {
	return func(r *api.StartRequest) { r.Group = g }
}

// A chain runs in order; a failure fails what runs after it, and only that.
func TestAfter(t *testing.T) {
	th, l := fakeWithLauncher(t)
	th.Start("wait a; echo a", named("A"))
	th.Start("exit 2", named("B"), after("A"))
	th.Start("echo c", named("C"), after("B"))
	th.Start("echo d", named("D"), after("B"), func(r *api.StartRequest) { r.AfterAnyState = true })
	th.Start("echo e", named("E"), after("A"))
	for _, name := range []string{"B", "C", "D", "E"} {
		if s := th.Job(name).State; s != api.NotStarted {
			t.Errorf("%s runs after A, which has not ended, yet is %s", name, s)
		}
	}
	l.Open("a")
	th.Await("C", "D", "E")
	want := map[string]api.State{"A": api.Completed, "B": api.Failed, "C": api.Failed, "D": api.Completed, "E": api.Completed}
	for name, st := range want {
		if got := th.Job(name).State; got != st {
			t.Errorf("%s is %s, want %s", name, got, st)
		}
	}
	c := th.Job("C")
	if !strings.Contains(c.StateReason, "job 2 (B), which it runs after, ended Failed") {
		t.Errorf("C's reason %q does not name B", c.StateReason)
	}
	if l.Runs(c.ID) != 0 {
		t.Errorf("C ran %d times; it must not run after B failed", l.Runs(c.ID))
	}
	if got := th.Job("D").After; len(got) != 1 || got[0] != 2 {
		t.Errorf("D.After = %v, want [2]", got)
	}
}

func TestAfterRefused(t *testing.T) {
	th := fake(t)
	th.Start("echo a", named("A"))
	th.Start("echo b", named("B"), after("A"))
	th.Await("B")
	ctx := context.Background()
	tests := []struct {
		name string
		req  api.StartRequest
		want string
	}{
		{"unknown", api.StartRequest{After: []string{"Nope"}}, `--after: no job matches "Nope"`},
		{"empty", api.StartRequest{After: []string{" "}}, "--after: an empty job name"},
		{"any state alone", api.StartRequest{AfterAnyState: true}, "--after-any-state goes with --after"},
		{"bad group", api.StartRequest{Group: "a b"}, "a group's name"},
	}
	for _, tt := range tests {
		req := tt.req
		req.Script, req.Workdir = "echo x", t.TempDir()
		_, err := th.Host.Start(ctx, &req)
		wantKind(t, tt.name, err, host.ErrBadRequest)
		if err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %q does not say %q", tt.name, err, tt.want)
		}
	}
	if js, _ := th.Jobs(ctx, nil, nil); len(js) != 2 {
		t.Errorf("refused starts made jobs: %d in the table, want 2", len(js))
	}
	// A cycle through restart in place: A cannot wait for B, which waits
	// for A.
	_, err := th.Restart(ctx, []string{"A"}, &api.RestartRequest{InPlace: true, After: []string{"B"}})
	wantKind(t, "cycle", err, host.ErrBadRequest)
	if err == nil || !strings.Contains(err.Error(), "job 1 would run after job 2 would run after job 1") {
		t.Errorf("cycle: %v", err)
	}
	if a := th.Job("A"); a.State != api.Completed || len(a.After) != 0 {
		t.Errorf("a refused restart changed A: %s, after %v", a.State, a.After)
	}
}

// Limits per group, changed while the host runs and kept across a restart.
func TestQueueGroups(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	ctx := context.Background()
	one, two := 1, 2
	if _, err := th.Queue(ctx, &api.QueueRequest{MaxRunning: &one}); err != nil {
		t.Fatal(err)
	}
	th.Start("wait x", named("D1"))
	th.Start("wait x", named("D2"))
	th.Start("wait x", named("G1"), inGroup("gpu"))
	th.Start("wait x", named("G2"), inGroup("gpu"))
	if err := l.WaitBlocked(1); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitBlocked(3); err != nil {
		t.Fatal(err)
	}
	states := func() string {
		var s []string
		for _, n := range []string{"D1", "D2", "G1", "G2"} {
			s = append(s, string(th.Job(n).State))
		}
		return strings.Join(s, " ")
	}
	if got := states(); got != "Running NotStarted Running NotStarted" {
		t.Errorf("default limit 1, gpu (a new group) 1: %s", got)
	}
	q, err := th.Queue(ctx, &api.QueueRequest{Group: "gpu", MaxRunning: &two})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitBlocked(4); err != nil {
		t.Fatalf("gpu's limit raised to 2, G2 did not start: %v", err)
	}
	if len(q.Groups) != 2 || q.Groups[0].Name != "default" || q.Groups[0].MaxRunning != 1 || q.Groups[1].Name != "gpu" || q.Groups[1].MaxRunning != 2 {
		t.Errorf("queue: %+v", q.Groups)
	}
	if js, _ := th.Jobs(ctx, nil, &api.Filter{Group: "gpu"}); !idsEqual(ids(js), 3, 4) {
		t.Errorf("get --group gpu: %v", ids(js))
	}
	th.Close()

	opts.MaxRunning = 8 // only the default until a limit is set
	th = hosttest.Open(t, home, opts)
	q, err = th.Queue(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Groups[0].MaxRunning != 1 || q.Groups[0].Running != 1 || q.Groups[0].Queued != 1 || q.Groups[1].Running != 2 {
		t.Errorf("after a restart: %+v", q.Groups)
	}
	neg := -1
	_, err = th.Queue(ctx, &api.QueueRequest{MaxRunning: &neg})
	wantKind(t, "negative limit", err, host.ErrBadRequest)
	l.Open("x")
	th.Await("D2", "G2")
}

// The clean-up policy removes what it no longer keeps, with its records.
func TestCleanupPolicy(t *testing.T) {
	th := fake(t)
	ctx := context.Background()
	for _, n := range []string{"A", "B", "C"} {
		th.Start("echo "+n, named(n))
		th.Await(n)
	}
	two := 2
	q, err := th.Queue(ctx, &api.QueueRequest{KeepFinished: &two})
	if err != nil || q.KeepFinished != 2 {
		t.Fatalf("Queue: %+v, %v", q, err)
	}
	if js, _ := th.Jobs(ctx, nil, nil); !idsEqual(ids(js), 2, 3) {
		t.Errorf("keep 2 of A B C: %v, want [2 3]", ids(js))
	}
	th.Start("echo D", named("D"))
	th.Await("D")
	// The policy is applied once D's end is stored, just after it ends.
	var js []*api.Job
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if js, _ = th.Jobs(ctx, nil, nil); idsEqual(ids(js), 3, 4) {
			break
		}
	}
	if !idsEqual(ids(js), 3, 4) {
		t.Errorf("D ended, keep 2: %v, want [3 4]", ids(js))
	}
	for _, bad := range []string{"soon", "-1h", "3x", "-2d"} {
		_, err := th.Queue(ctx, &api.QueueRequest{KeepFor: &bad})
		wantKind(t, "--keep-for "+bad, err, host.ErrBadRequest)
	}
	for in, want := range map[string]string{"7d": "7d", "36h": "36h0m0s", "90m": "1h30m0s", "0": "0", "1.5d": "36h0m0s"} {
		q, err := th.Queue(ctx, &api.QueueRequest{KeepFor: &in})
		if err != nil || q.KeepFor != want {
			t.Errorf("--keep-for %s: %q, %v; want %q", in, q.KeepFor, err, want)
		}
	}
}

// A dependency that failed and is then removed still fails what runs
// after it: a job looked at when it ended (B), and one the queue does not
// look at meanwhile (S, suspended), which fails when its dependency goes.
// (The clean-up policy no longer removes a job at its own end: it keeps
// the jobs that ended last; TestCleanupKeepsWhatEndedLast.)
func TestAfterRemovedDependency(t *testing.T) {
	th, l := fakeWithLauncher(t)
	ctx := context.Background()
	th.Start("wait a; exit 2", named("A"))
	th.Start("echo b", named("B"), after("A"))
	th.Start("echo s", named("S"), after("A"))
	if _, err := th.Suspend(ctx, []string{"S"}); err != nil {
		t.Fatal(err)
	}
	l.Open("a")
	th.Await("A", "B")
	if err := th.Remove(ctx, []string{"A"}, false); err != nil {
		t.Fatal(err)
	}
	b := th.Job("B")
	if b.State != api.Failed || l.Runs(b.ID) != 0 || !strings.Contains(b.StateReason, "job 1 (A)") {
		t.Errorf("B, after A which failed and was removed: %s (%q), ran %d times", b.State, b.StateReason, l.Runs(b.ID))
	}
	// S fails when A is removed (a suspended job is not looked at).
	// (A wait takes a suspended job as done: its state is watched.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s := th.Job("S")
		if s.State == api.Failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("S, suspended in the queue after A: %s (%q) 10 s after A was removed", s.State, s.StateReason)
		}
	}
}

// The clean-up policy keeps the jobs that ended last: a long job that ends
// after shorter ones started later is kept at its end, not removed by the
// look its own end makes before anyone read it (as it was when the policy
// kept the jobs started last).
func TestCleanupKeepsWhatEndedLast(t *testing.T) {
	th, l := fakeWithLauncher(t)
	ctx := context.Background()
	one := 1
	if _, err := th.Queue(ctx, &api.QueueRequest{KeepFinished: &one}); err != nil {
		t.Fatal(err)
	}
	th.Start("wait long; echo long", named("Long"))
	th.Start("echo short", named("Short"))
	th.Await("Short")
	l.Open("long")
	th.Await("Long")
	var js []*api.Job
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if js, _ = th.Jobs(ctx, nil, nil); len(js) == 1 {
			break
		}
	}
	if len(js) != 1 || js[0].Name != "Long" {
		t.Errorf("keep 1, Long ending after Short: ids %v; want Long (1) alone", ids(js))
	}
}

// A job that completes just as it is stopped: the runtime, having
// forgotten the job, does not take the stop, and the host kills the
// process that ran it. That process must not have been given another job
// meanwhile: the other job would die with it. A process a stop was asked
// of is therefore never reused, even when its job completed.
func TestStopOfACompletingJobKillsNoOtherJob(t *testing.T) {
	th, l := fakeWithLauncher(t)
	l.Reuse()
	l.HoldStops("stops")
	a := th.Start("wait go", named("A"))
	if err := l.WaitBlocked(a.ID); err != nil { // running in its runtime
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() {
		_, err := th.Stop(context.Background(), []string{"A"})
		stopped <- err
	}()
	waitJobState(t, th, "A", api.Stopping)
	l.Open("go") // A completes before its stop reaches the runtime
	waitJobState(t, th, "A", api.Completed)
	// A's process is back for the next job, or ended.
	for deadline := time.Now().Add(10 * time.Second); l.Kept() == 0 && l.Alive() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("job A's process was neither kept nor ended")
		}
	}
	b := th.Start("wait never", named("B"))
	if err := l.WaitBlocked(b.ID); err != nil {
		t.Fatal(err)
	}
	l.Open("stops")
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // a kill's end would reach B's relay
	if j := th.Job("B"); j.State != api.Running {
		t.Errorf("job B is %s (%s) after a late stop of job A; want Running", j.State, j.StateReason)
	}
	if _, err := th.Stop(context.Background(), []string{"B"}); err != nil {
		t.Fatal(err)
	}
}

// Jobs restarted together keep their chain: restart --state Failed of A
// (failed) and B (after A, failed without running) makes a new B that
// runs after the new A, not after the A that failed (it would fail at
// once, naming the old A).
func TestRestartKeepsChain(t *testing.T) {
	th, l := fakeWithLauncher(t)
	ctx := context.Background()
	th.Start("wait a; exit 2", named("A"))
	th.Start("echo b", named("B"), after("A"))
	l.Open("a")
	th.Await("A", "B")
	js, err := th.Restart(ctx, nil, &api.RestartRequest{}, host.InState("Failed"))
	if err != nil || len(js) != 2 {
		t.Fatalf("restart --state Failed: %d jobs, %v", len(js), err)
	}
	a2, b2 := js[0], js[1]
	if a2.Name != "A" || b2.Name != "B" || !slices.Equal(b2.After, []uint64{a2.ID}) {
		t.Fatalf("restarted: %s %d, %s %d after %v; want B after %d", a2.Name, a2.ID, b2.Name, b2.ID, b2.After, a2.ID)
	}
	th.Await(strconv.FormatUint(b2.ID, 10))
	if b := th.Job(strconv.FormatUint(b2.ID, 10)); !strings.Contains(b.StateReason, fmt.Sprintf("job %d (A)", a2.ID)) {
		t.Errorf("the new B: %s (%q); want it failed for the new A (%d)", b.State, b.StateReason, a2.ID)
	}
}
