package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
)

func TestJobsFilters(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("echo a", named("A"))
	th.start("exit 3", named("B"))
	th.start("echo up; sleep 1000", named("C"))
	th.wait("A", "B")
	th.waitOutput("C", "up")

	b := th.job("B")
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
		js, err := th.Jobs(nil, tt.f)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := ids(js); !idsEqual(got, tt.want...) {
			t.Errorf("%s: Jobs = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Filters combine with selectors.
	if js, err := th.Jobs([]string{"A", "C"}, &api.Filter{State: "running"}); err != nil || !idsEqual(ids(js), 3) {
		t.Errorf("Jobs(A, C; running) = %v, %v; want [3]", ids(js), err)
	}
	_, err := th.Jobs(nil, &api.Filter{State: "Sleeping"})
	wantCode(t, "unknown state", err, api.ExitUsage)
	if err != nil && !strings.Contains(err.Error(), "Sleeping") {
		t.Errorf("error %q does not name the state", err)
	}
	// After draining A, HasMoreData=false picks it too.
	th.receive([]string{"A"}, ReceiveOptions{})
	if js, _ := th.Jobs(nil, &api.Filter{HasMoreData: &no}); !idsEqual(ids(js), 1, 2) {
		t.Errorf("HasMoreData=false after draining A: %v, want [1 2]", ids(js))
	}
}

func TestWaitAnyAndTimeout(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("echo quick", named("quick"))
	th.start("sleep 1000", named("slow"))
	ctx := context.Background()

	js, err := th.Wait(ctx, []string{"quick", "slow"}, true, 20*time.Second)
	if err != nil {
		t.Fatalf("Wait --any: %v", err)
	}
	if !idsEqual(ids(js), 1) || js[0].State != api.Completed {
		t.Errorf("Wait --any returned %v", ids(js))
	}

	js, err = th.Wait(ctx, []string{"slow"}, false, 100*time.Millisecond)
	wantCode(t, "Wait(slow, 100ms)", err, api.ExitTimeout)
	if len(js) != 0 {
		t.Errorf("a timed-out wait returned finished jobs %v", ids(js))
	}
	if err != nil && !strings.Contains(err.Error(), "2") {
		t.Errorf("timeout error %q does not name the job still running", err)
	}

	// Without any, a timeout returns the jobs that did finish.
	js, err = th.Wait(ctx, []string{"*"}, false, 100*time.Millisecond)
	wantCode(t, "Wait(*, 100ms)", err, api.ExitTimeout)
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

func TestStopRunningJob(t *testing.T) {
	const grace = 500 * time.Millisecond
	th := openHost(t, "", Options{StopGrace: grace})
	dir := t.TempDir()
	// sh prints its pid, then becomes sleep: the job's one process.
	th.start(`echo started; sh -c 'echo $$ > sleep.pid; exec sleep 1000'`, func(r *api.StartRequest) { r.Workdir = dir })
	th.waitOutput("1", "started")
	pid := waitPid(t, filepath.Join(dir, "sleep.pid"))

	begin := time.Now()
	js, err := th.Stop(context.Background(), []string{"1"})
	took := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].State != api.Stopped {
		t.Fatalf("Stop returned %+v, want job 1 Stopped", js)
	}
	if limit := grace + 5*time.Second + 3*time.Second; took > limit {
		t.Errorf("Stop took %v, more than the grace and its margin (%v)", took, limit)
	}
	if js[0].PSEndTime == nil {
		t.Error("a stopped job has no end time")
	}
	if !js[0].HasMoreData {
		t.Error("the stopped job's output was lost (HasMoreData false)")
	}
	if got := th.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"started"}) {
		t.Errorf("output %q", got)
	}
	waitGone(t, pid)

	// Stopping a finished job changes nothing.
	js, err = th.Stop(context.Background(), []string{"1"})
	if err != nil || len(js) != 1 || js[0].State != api.Stopped {
		t.Errorf("stopping a stopped job: %v, %+v", err, js)
	}
}

func TestStopQueuedJob(t *testing.T) {
	th := openHost(t, "", Options{MaxRunning: 1})
	th.start("echo up; sleep 1000", named("runner"))
	th.start("echo never", named("queued"))
	th.waitOutput("runner", "up")
	if q := th.job("queued"); q.State != api.NotStarted {
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
	time.Sleep(200 * time.Millisecond)
	if q := th.job("queued"); q.State != api.Stopped || q.HasMoreData {
		t.Errorf("the stopped queued job is %s, HasMoreData %v", q.State, q.HasMoreData)
	}
}

func TestRemove(t *testing.T) {
	th := openHost(t, "", Options{StopGrace: 200 * time.Millisecond})
	th.start("echo done", named("fin"))
	th.start("echo up; sleep 1000", named("run"))
	th.wait("fin")
	th.waitOutput("run", "up")
	ctx := context.Background()

	err := th.Remove(ctx, []string{"run"}, false)
	wantCode(t, "Remove(running)", err, api.ExitConflict)
	if j := th.job("run"); j.State != api.Running {
		t.Errorf("a refused remove left the job %s", j.State)
	}
	// All or nothing: a selection with a running job removes none.
	err = th.Remove(ctx, []string{"*"}, false)
	wantCode(t, "Remove(*)", err, api.ExitConflict)
	if js, _ := th.Jobs(nil, nil); len(js) != 2 {
		t.Errorf("a refused remove removed jobs: %v left", ids(js))
	}

	if err := th.Remove(ctx, []string{"fin"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(th.logPath(1)); !os.IsNotExist(err) {
		t.Errorf("the removed job's record log: %v", err)
	}
	if err := th.Remove(ctx, []string{"run"}, true); err != nil {
		t.Fatalf("Remove --force: %v", err)
	}
	if js, _ := th.Jobs(nil, nil); len(js) != 0 {
		t.Errorf("jobs left: %v", ids(js))
	}
	for _, p := range []string{th.logPath(2), th.runtimeLogPath(2), th.sockDir(2)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left after removing its job: %v", p, err)
		}
	}
	_, err = th.Jobs([]string{"run"}, nil)
	wantCode(t, "Jobs(removed)", err, api.ExitNotFound)
}

func TestMaxRunning(t *testing.T) {
	th := openHost(t, "", Options{MaxRunning: 1})
	for i := 0; i < 3; i++ {
		th.start("sleep 0.3")
	}
	deadline := time.Now().Add(30 * time.Second)
	maxSeen := 0
	for {
		js, err := th.Jobs(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		running, finished := 0, 0
		for _, j := range js {
			switch {
			case j.State == api.Running || j.State == api.Stopping:
				running++
			case j.State.Finished():
				finished++
			}
		}
		maxSeen = max(maxSeen, running)
		if running > 1 {
			t.Fatalf("%d jobs run at once with MaxRunning 1", running)
		}
		if finished == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the three jobs did not end within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if maxSeen != 1 {
		t.Errorf("no job was ever seen running")
	}
	js, _ := th.Jobs(nil, nil)
	for i, j := range js {
		if j.State != api.Completed {
			t.Errorf("job %d is %s (%s)", j.ID, j.State, j.StateReason)
		}
		// Queued in id order: each began after the previous one ended.
		if i > 0 && js[i-1].PSEndTime != nil && j.PSBeginTime != nil && j.PSBeginTime.Before(*js[i-1].PSEndTime) {
			t.Errorf("job %d began at %v, before job %d ended at %v", j.ID, j.PSBeginTime, js[i-1].ID, js[i-1].PSEndTime)
		}
	}
}

// waitPid reads a pid file a job writes.
func waitPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s within 10s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until process pid has gone (or is a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("process %d still runs 10s after its job was stopped", pid)
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

// Wait's timeout is its own: a caller's context that reaches its deadline
// is not "wait --timeout ran out", and the message must not claim a
// timeout that was never given.
func TestWaitCallerDeadlineIsNotATimeout(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("sleep 1000", named("slow"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := th.Wait(ctx, []string{"slow"}, false, 0)
	if err == nil {
		t.Fatal("Wait returned before the job ended")
	}
	if strings.Contains(err.Error(), "after 0s") {
		t.Errorf("Wait without a timeout, ended by its caller's deadline, says %q (exit code %d); want the context's error", err, api.CodeOf(err))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait ended by its caller's deadline returned %v, which does not wrap context.DeadlineExceeded", err)
	}
}

// The Command filter is a wildcard over the whole command: a job started
// from a file has the file's absolute path as its command, and '*' must
// match across its slashes (as Get-Job -Command does).
func TestJobsCommandFilterMatchesPaths(t *testing.T) {
	th := openHost(t, "", Options{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte("echo deployed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := th.Start(&api.StartRequest{File: "deploy.sh", Workdir: dir, Env: jobEnv})
	if err != nil {
		t.Fatal(err)
	}
	th.start("echo other")
	th.wait("*")
	for _, pattern := range []string{"*deploy.sh", "*deploy*", j.Command, "*"} {
		js, err := th.Jobs(nil, &api.Filter{Command: pattern})
		if err != nil {
			t.Fatal(err)
		}
		if len(js) == 0 || js[0].ID != j.ID {
			t.Errorf("Command filter %q does not match the job whose command is %q (got jobs %v)", pattern, j.Command, ids(js))
		}
	}
}

func TestStopRightAfterStart(t *testing.T) {
	th := openHost(t, "", Options{MaxRunning: 1})
	th.start("echo never; sleep 1000")
	// The runtime is most likely still starting: the job is stopped at once
	// and the runtime, once up, is let go.
	js, err := th.Stop(context.Background(), []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if js[0].State != api.Stopped {
		t.Fatalf("job is %s", js[0].State)
	}
	// Its slot is free again: with MaxRunning 1 the next job runs.
	th.start("echo next")
	if j := th.wait("2")[0]; j.State != api.Completed {
		t.Errorf("the next job ended %s: %s", j.State, j.StateReason)
	}
	if got := th.receive([]string{"2"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"next"}) {
		t.Errorf("output %q", got)
	}
}

func TestStopJobIgnoringSIGTERM(t *testing.T) {
	const grace = 300 * time.Millisecond
	th := openHost(t, "", Options{StopGrace: grace})
	dir := t.TempDir()
	th.start(`sh -c 'trap "" TERM; echo $$ > stubborn.pid; while :; do sleep 0.05; done'`, func(r *api.StartRequest) { r.Workdir = dir })
	pid := waitPid(t, filepath.Join(dir, "stubborn.pid"))
	begin := time.Now()
	js, err := th.Stop(context.Background(), []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > grace+5*time.Second+3*time.Second {
		t.Errorf("Stop took %v", took)
	}
	if js[0].State != api.Stopped {
		t.Errorf("job is %s (%s)", js[0].State, js[0].StateReason)
	}
	waitGone(t, pid)
}

func TestRuntimeKilled(t *testing.T) {
	th := openHost(t, "", Options{})
	dir := t.TempDir()
	// An external command's parent is the runtime.
	th.start(`echo before; sh -c 'echo $PPID > rt.pid; echo $$ > job.pid; exec sleep 1000'`, func(r *api.StartRequest) { r.Workdir = dir })
	pid := waitPid(t, filepath.Join(dir, "rt.pid"))
	// The job's process outlives a killed runtime; end it with the test.
	jobPid := waitPid(t, filepath.Join(dir, "job.pid"))
	t.Cleanup(func() { syscall.Kill(jobPid, syscall.SIGKILL) })
	th.waitOutput("1", "before")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	j := th.wait("1")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "crashed or was killed") {
		t.Errorf("after its runtime was killed the job is %s: %q", j.State, j.StateReason)
	}
	if got := th.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"before"}) {
		t.Errorf("the records sent before the crash: %q", got)
	}
	// The host goes on.
	th.start("echo after")
	if j := th.wait("2")[0]; j.State != api.Completed {
		t.Errorf("the next job ended %s", j.State)
	}
}

func TestQueuedJobLosesItsWorkdir(t *testing.T) {
	th := openHost(t, "", Options{MaxRunning: 1})
	th.start("echo up; sleep 1000", named("blocker"))
	th.waitOutput("blocker", "up")
	gone := t.TempDir()
	th.start("echo never", named("orphan"), func(r *api.StartRequest) { r.Workdir = gone })
	th.start("echo third", named("third"))
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Stop(context.Background(), []string{"blocker"}); err != nil {
		t.Fatal(err)
	}
	j := th.wait("orphan")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "working directory") {
		t.Errorf("a job whose working directory went away while queued ended %s: %q", j.State, j.StateReason)
	}
	// Its failure freed its slot.
	if j := th.wait("third")[0]; j.State != api.Completed {
		t.Errorf("the job after it ended %s: %s", j.State, j.StateReason)
	}
}

func TestQueuedJobLosesItsRuntime(t *testing.T) {
	root := t.TempDir()
	e, err := catalog.Open(root).Install(context.Background(), shellBinary)
	if err != nil {
		t.Fatal(err)
	}
	th := openHost(t, "", Options{MaxRunning: 1, Runtimes: root})
	th.start("echo up; sleep 1000", named("blocker"))
	th.waitOutput("blocker", "up")
	th.start("echo never", named("q"))
	if err := os.RemoveAll(filepath.Dir(e.Path)); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Stop(context.Background(), []string{"blocker"}); err != nil {
		t.Fatal(err)
	}
	j := th.wait("q")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "no longer installed") {
		t.Errorf("a job whose runtime was uninstalled while it was queued ended %s: %q", j.State, j.StateReason)
	}
}
