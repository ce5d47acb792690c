package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

func TestJobsFilters(t *testing.T) {
	th := fake(t)
	th.Start("echo a", named("A"))
	th.Start("exit 3", named("B"))
	th.Start("echo up; sleep", named("C"))
	th.Await("A", "B")
	th.WaitOutput("C", "up")

	b := th.Job("B")
	if b.State != api.Failed || b.ExitCode == nil || *b.ExitCode != 3 || b.StateReason == "" {
		t.Errorf("B (exit 3) is %s, exit code %v, reason %q; want Failed, 3 and a reason", b.State, b.ExitCode, b.StateReason)
	}
	if b.HasMoreData {
		t.Error("B printed nothing and has ended, yet HasMoreData is true")
	}

	yes, no := true, false
	tests := []struct {
		name string
		f    *api.Filter
		want []uint64
	}{
		{"nil", nil, []uint64{1, 2, 3}},
		{"empty", &api.Filter{}, []uint64{1, 2, 3}},
		{"completed", &api.Filter{State: "completed"}, []uint64{1}},
		{"RUNNING", &api.Filter{State: "RUNNING"}, []uint64{3}},
		{"Failed", &api.Filter{State: "Failed"}, []uint64{2}},
		{"stopped", &api.Filter{State: "stopped"}, []uint64{}},
		{"command", &api.Filter{Command: "echo*"}, []uint64{1, 3}},
		{"command exact", &api.Filter{Command: "exit 3"}, []uint64{2}},
		{"has more data", &api.Filter{HasMoreData: &yes}, []uint64{1, 3}},
		{"no more data", &api.Filter{HasMoreData: &no}, []uint64{2}},
		{"newest 2", &api.Filter{Newest: 2}, []uint64{2, 3}},
		{"newest 10", &api.Filter{Newest: 10}, []uint64{1, 2, 3}},
		{"newest after state", &api.Filter{State: "completed", Newest: 1}, []uint64{1}},
		{"command and more data", &api.Filter{Command: "echo*", HasMoreData: &yes, Newest: 1}, []uint64{3}},
	}
	for _, tt := range tests {
		js, err := th.Jobs(context.Background(), nil, tt.f)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := ids(js); !idsEqual(got, tt.want...) {
			t.Errorf("%s: Jobs = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Filters combine with selectors.
	if js, err := th.Jobs(context.Background(), []string{"A", "C"}, &api.Filter{State: "running"}); err != nil || !idsEqual(ids(js), 3) {
		t.Errorf("Jobs(A, C; running) = %v, %v; want [3]", ids(js), err)
	}
	_, err := th.Jobs(context.Background(), nil, &api.Filter{State: "Sleeping"})
	wantKind(t, "unknown state", err, host.ErrBadRequest)
	if err != nil && !strings.Contains(err.Error(), "Sleeping") {
		t.Errorf("error %q does not name the state", err)
	}
	// After draining A, HasMoreData=false picks it too.
	th.Take([]string{"A"}, host.ReceiveOptions{})
	if js, _ := th.Jobs(context.Background(), nil, &api.Filter{HasMoreData: &no}); !idsEqual(ids(js), 1, 2) {
		t.Errorf("HasMoreData=false after draining A: %v, want [1 2]", ids(js))
	}
}

func TestWaitAnyAndTimeout(t *testing.T) {
	th := fake(t)
	th.Start("echo quick", named("quick"))
	th.Start("sleep", named("slow"))
	ctx := context.Background()

	js, err := th.Wait(ctx, []string{"quick", "slow"}, true, 20*time.Second)
	if err != nil {
		t.Fatalf("Wait --any: %v", err)
	}
	if !idsEqual(ids(js), 1) || js[0].State != api.Completed {
		t.Errorf("Wait --any returned %v", ids(js))
	}

	js, err = th.Wait(ctx, []string{"slow"}, false, 100*time.Millisecond)
	wantKind(t, "Wait(slow, 100ms)", err, host.ErrTimeout)
	if len(js) != 0 {
		t.Errorf("a timed-out wait returned finished jobs %v", ids(js))
	}
	if err != nil && !strings.Contains(err.Error(), "2") {
		t.Errorf("timeout error %q does not name the job still running", err)
	}

	// Without any, a timeout returns the jobs that did finish.
	js, err = th.Wait(ctx, []string{"*"}, false, 100*time.Millisecond)
	wantKind(t, "Wait(*, 100ms)", err, host.ErrTimeout)
	if !idsEqual(ids(js), 1) {
		t.Errorf("a timed-out wait returned %v, want the finished job 1", ids(js))
	}

	// A cancelled context ends a wait.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = th.Wait(cctx, []string{"slow"}, false, 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context returned %v", err)
	}

	// Waiting for a job that is stopped meanwhile returns it.
	errc := make(chan error, 1)
	go func() {
		js, err := th.Wait(ctx, []string{"slow"}, false, 30*time.Second)
		if err == nil && (len(js) != 1 || js[0].State != api.Stopped) {
			err = errors.New("the wait returned " + strconv.Itoa(len(js)) + " jobs")
		}
		errc <- err
	}()
	if _, err := th.Stop(ctx, []string{"slow"}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Wait for a job being stopped: %v", err)
	}
}

// A wait for several jobs returns once every one has ended, in whatever
// order they end (it follows one job at a time, then selects again), and
// a job that matches its selection started while it waits is waited for
// too, as before.
func TestWaitForMany(t *testing.T) {
	th := fake(t)
	for _, n := range []string{"A", "B", "C"} {
		th.Start("sleep", named(n))
	}
	ctx := context.Background()
	type result struct {
		js  []*api.Job
		err error
	}
	got := make(chan result, 1)
	go func() {
		js, err := th.Wait(ctx, []string{"*"}, false, 30*time.Second)
		got <- result{js, err}
	}()
	time.Sleep(50 * time.Millisecond) // the wait is on job 1 by now, most likely
	th.Start("echo quick", named("D"))
	for _, n := range []string{"C", "A", "B"} {
		select {
		case r := <-got:
			t.Fatalf("the wait returned %v (%v) before job %s ended", ids(r.js), r.err, n)
		default:
		}
		if _, err := th.Stop(ctx, []string{n}); err != nil {
			t.Fatal(err)
		}
	}
	r := <-got
	if r.err != nil || !idsEqual(ids(r.js), 1, 2, 3, 4) {
		t.Fatalf("the wait returned %v, %v; want jobs 1 to 4", ids(r.js), r.err)
	}
	for _, j := range r.js {
		if !j.State.Finished() {
			t.Errorf("job %d is %s in the wait's answer", j.ID, j.State)
		}
	}
}

// A wait that times out answers the jobs that ended while it waited, not
// only those that had ended before (the CLI prints them with the error),
// and names the one still running.
func TestWaitTimeoutAnswersWhatEndedMeanwhile(t *testing.T) {
	th := fake(t)
	th.Start("sleep", named("A"))
	th.Start("sleep", named("B"))
	ctx := context.Background()
	time.AfterFunc(100*time.Millisecond, func() { th.Stop(ctx, []string{"A"}) })
	js, err := th.Wait(ctx, []string{"*"}, false, 500*time.Millisecond)
	wantKind(t, "Wait(*, 500ms)", err, host.ErrTimeout)
	if !idsEqual(ids(js), 1) {
		t.Errorf("a timed-out wait returned %v, want job 1, which ended while it waited", ids(js))
	}
	if err != nil && !strings.HasSuffix(err.Error(), "not finished: job 2") {
		t.Errorf("the timeout says %q; want it to name job 2 alone", err)
	}
}

// Wait's timeout is its own: a caller's context that reaches its deadline
// is not "wait --timeout ran out", and the message must not claim a
// timeout that was never given.
func TestWaitCallerDeadlineIsNotATimeout(t *testing.T) {
	th := fake(t)
	th.Start("sleep", named("slow"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := th.Wait(ctx, []string{"slow"}, false, 0)
	if err == nil {
		t.Fatal("Wait returned before the job ended")
	}
	if errors.Is(err, host.ErrTimeout) || strings.Contains(err.Error(), "after 0s") {
		t.Errorf("Wait without a timeout, ended by its caller's deadline, says %q; want the context's error", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait ended by its caller's deadline returned %v, which does not wrap context.DeadlineExceeded", err)
	}
}

func TestStopSleepingJob(t *testing.T) {
	th, l := fakeWithLauncher(t)
	th.Start("echo started; sleep")
	if err := l.WaitBlocked(1); err != nil {
		t.Fatal(err)
	}
	js, err := th.Stop(context.Background(), []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].State != api.Stopped || js[0].PSEndTime == nil {
		t.Fatalf("Stop returned %+v, want job 1 Stopped with an end time", js)
	}
	if !js[0].HasMoreData {
		t.Error("the stopped job's output was lost (HasMoreData false)")
	}
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"started"}) {
		t.Errorf("output %q", got)
	}
	// Stopping a finished job changes nothing.
	js, err = th.Stop(context.Background(), []string{"1"})
	if err != nil || len(js) != 1 || js[0].State != api.Stopped {
		t.Errorf("stopping a stopped job: %v, %+v", err, js)
	}
}

// A runtime that does not end its job when asked is killed after the stop
// grace; the job ends Stopped all the same.
func TestStopHungRuntime(t *testing.T) {
	th, l := fakeWithLauncher(t)
	th.Start("hang")
	if err := l.WaitBlocked(1); err != nil {
		t.Fatal(err)
	}
	js, err := th.Stop(context.Background(), []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if js[0].State != api.Stopped {
		t.Errorf("job is %s (%s)", js[0].State, js[0].StateReason)
	}
	if l.Alive() != 0 {
		t.Errorf("%d runtime processes alive after stopping a hung job", l.Alive())
	}
}

func TestStopQueuedJob(t *testing.T) {
	th, l := fakeWithLauncher(t, maxRunning(1))
	th.Start("echo up; sleep", named("runner"))
	th.Start("echo never", named("queued"))
	th.WaitOutput("runner", "up")
	if q := th.Job("queued"); q.State != api.NotStarted {
		t.Fatalf("with MaxRunning 1 the second job is %s, want NotStarted", q.State)
	}
	js, err := th.Stop(context.Background(), []string{"queued"})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].State != api.Stopped || js[0].StateReason == "" {
		t.Fatalf("Stop(queued) = %+v", js)
	}
	// It never runs, even once the slot is free.
	if _, err := th.Stop(context.Background(), []string{"runner"}); err != nil {
		t.Fatal(err)
	}
	th.Start("echo after", named("after"))
	th.Await("after")
	if q := th.Job("queued"); q.State != api.Stopped || q.HasMoreData {
		t.Errorf("the stopped queued job is %s, HasMoreData %v", q.State, q.HasMoreData)
	}
	if n := l.Runs(2); n != 0 {
		t.Errorf("the stopped queued job ran %d times", n)
	}
}

func TestRemove(t *testing.T) {
	th := fake(t)
	th.Start("echo done", named("fin"))
	th.Start("echo up; sleep", named("run"))
	th.Await("fin")
	th.WaitOutput("run", "up")
	ctx := context.Background()

	err := th.Remove(ctx, []string{"run"}, false)
	wantKind(t, "Remove(running)", err, host.ErrNotFinished)
	if j := th.Job("run"); j.State != api.Running {
		t.Errorf("a refused remove left the job %s", j.State)
	}
	// A selection with a running job removes the finished ones and
	// reports the other, which stays.
	err = th.Remove(ctx, []string{"*"}, false)
	wantKind(t, "Remove(*)", err, host.ErrNotFinished)
	if js, _ := th.Jobs(context.Background(), nil, nil); !idsEqual(ids(js), 2) {
		t.Errorf("remove * left %v, want the running job only", ids(js))
	}
	if _, err := os.Stat(filepath.Join(th.Dir, "jobs", "1.log")); !os.IsNotExist(err) {
		t.Errorf("the removed job's record log: %v", err)
	}
	if err := th.Remove(ctx, []string{"run"}, true); err != nil {
		t.Fatalf("Remove --force: %v", err)
	}
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Errorf("jobs left: %v", ids(js))
	}
	for _, p := range []string{"jobs/2.log", "jobs/2.runtime.log", "run/2"} {
		if _, err := os.Stat(filepath.Join(th.Dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s is left after removing its job: %v", p, err)
		}
	}
	_, err = th.Jobs(context.Background(), []string{"run"}, nil)
	wantKind(t, "Jobs(removed)", err, host.ErrNotFound)
}

func TestMaxRunning(t *testing.T) {
	th, l := fakeWithLauncher(t, maxRunning(2))
	for i := 1; i <= 5; i++ {
		th.Start("wait g" + strconv.Itoa(i))
	}
	// Two run; the rest are rows.
	for _, id := range []uint64{1, 2} {
		if err := l.WaitBlocked(id); err != nil {
			t.Fatal(err)
		}
	}
	states := func() string {
		js, _ := th.Jobs(context.Background(), nil, nil)
		var s []string
		for _, j := range js {
			s = append(s, string(j.State))
		}
		return strings.Join(s, " ")
	}
	if got := states(); got != "Running Running NotStarted NotStarted NotStarted" {
		t.Fatalf("states %s", got)
	}
	// Each end lets the next in line, in id order.
	l.Open("g2")
	th.Await("2")
	if err := l.WaitBlocked(3); err != nil {
		t.Fatal(err)
	}
	if got := states(); got != "Running Completed Running NotStarted NotStarted" {
		t.Errorf("after job 2 ended: %s", got)
	}
	for i := 1; i <= 5; i++ {
		l.Open("g" + strconv.Itoa(i))
	}
	th.Await("*")
	if got := states(); got != "Completed Completed Completed Completed Completed" {
		t.Errorf("at the end: %s", got)
	}
	if l.Launches() != 5 {
		t.Errorf("%d runtimes launched for 5 jobs", l.Launches())
	}
}

// The Command filter is a wildcard over the whole command: a job started
// from a file has the file's absolute path as its command, and '*' must
// match across its slashes (as Get-Job -Command does).
func TestJobsCommandFilterMatchesPaths(t *testing.T) {
	th := fake(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte("echo deployed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := th.Host.Start(context.Background(), &api.StartRequest{File: "deploy.sh", Workdir: dir, Env: hosttest.JobEnv})
	if err != nil {
		t.Fatal(err)
	}
	th.Start("echo other")
	th.Await("*")
	for _, pattern := range []string{"*deploy.sh", "*deploy*", j.Command, "*"} {
		js, err := th.Jobs(context.Background(), nil, &api.Filter{Command: pattern})
		if err != nil {
			t.Fatal(err)
		}
		if len(js) == 0 || js[0].ID != j.ID {
			t.Errorf("Command filter %q does not match the job whose command is %q (got jobs %v)", pattern, j.Command, ids(js))
		}
	}
}

func TestStopRightAfterStart(t *testing.T) {
	th := fake(t, maxRunning(1))
	th.Start("echo never; sleep")
	js, err := th.Stop(context.Background(), []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if js[0].State != api.Stopped {
		t.Fatalf("job is %s", js[0].State)
	}
	// Its slot is free again: with MaxRunning 1 the next job runs.
	th.Start("echo next")
	if j := th.Await("2")[0]; j.State != api.Completed {
		t.Errorf("the next job ended %s: %s", j.State, j.StateReason)
	}
	if got := th.Take([]string{"2"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"next"}) {
		t.Errorf("output %q", got)
	}
}

func TestRuntimeCrashes(t *testing.T) {
	th := fake(t)
	th.Start("echo before; crash; echo after")
	j := th.Await("1")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "crashed or was killed") {
		t.Errorf("after its runtime crashed the job is %s: %q", j.State, j.StateReason)
	}
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"before"}) {
		t.Errorf("the records sent before the crash: %q", got)
	}
	// The host goes on.
	th.Start("echo after")
	if j := th.Await("2")[0]; j.State != api.Completed {
		t.Errorf("the next job ended %s", j.State)
	}
}

func TestLaunchFails(t *testing.T) {
	th, l := fakeWithLauncher(t, maxRunning(1))
	l.FailNextLaunch(errors.New("cannot start the runtime: exec format error"))
	th.Start("echo never", named("bad"))
	th.Start("echo fine", named("good"))
	j := th.Await("bad")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "exec format error") {
		t.Errorf("a job whose runtime did not start ended %s: %q", j.State, j.StateReason)
	}
	// Its failure freed its slot.
	if j := th.Await("good")[0]; j.State != api.Completed {
		t.Errorf("the job after it ended %s: %s", j.State, j.StateReason)
	}
}

func TestQueuedJobLosesItsWorkdir(t *testing.T) {
	th := fake(t, maxRunning(1))
	th.Start("echo up; sleep", named("blocker"))
	th.WaitOutput("blocker", "up")
	gone := t.TempDir()
	th.Start("echo never", named("orphan"), inDir(gone))
	th.Start("echo third", named("third"))
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Stop(context.Background(), []string{"blocker"}); err != nil {
		t.Fatal(err)
	}
	j := th.Await("orphan")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "working directory") {
		t.Errorf("a job whose working directory went away while queued ended %s: %q", j.State, j.StateReason)
	}
	if j := th.Await("third")[0]; j.State != api.Completed {
		t.Errorf("the job after it ended %s: %s", j.State, j.StateReason)
	}
}

func TestQueuedJobLosesItsRuntime(t *testing.T) {
	opts, _ := hosttest.Fake(t)
	opts.MaxRunning = 1
	th := hosttest.Open(t, "", opts)
	th.Start("echo up; sleep", named("blocker"))
	th.WaitOutput("blocker", "up")
	th.Start("echo never", named("q"))
	if err := os.RemoveAll(filepath.Join(opts.Runtimes, "shell")); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Stop(context.Background(), []string{"blocker"}); err != nil {
		t.Fatal(err)
	}
	j := th.Await("q")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "no longer installed") {
		t.Errorf("a job whose runtime was uninstalled while it was queued ended %s: %q", j.State, j.StateReason)
	}
}
