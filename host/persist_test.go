package host

import (
	"context"
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

func TestPersistFinishedJob(t *testing.T) {
	home := testHome(t)
	th := openHost(t, home, Options{})
	th.start("echo line1; echo line2; echo line3", named("Done"))
	th.start("echo drained", named("Drained"))
	th.start("exit 4", named("Bad"))
	th.wait("*")
	th.receive([]string{"Drained"}, ReceiveOptions{})
	before, err := th.Jobs(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	th.close()

	th2 := openHost(t, home, Options{})
	after, err := th2.Jobs(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after a restart there are %d jobs, want %d", len(after), len(before))
	}
	for i, a := range after {
		b := before[i]
		if a.ID != b.ID || a.Name != b.Name || a.InstanceID != b.InstanceID || a.State != b.State ||
			a.StateReason != b.StateReason || a.HasMoreData != b.HasMoreData || a.Command != b.Command ||
			!sameTime(a.PSBeginTime, b.PSBeginTime) || !sameTime(a.PSEndTime, b.PSEndTime) ||
			(a.ExitCode == nil) != (b.ExitCode == nil) || (a.ExitCode != nil && *a.ExitCode != *b.ExitCode) {
			t.Errorf("job %d changed across a restart:\nbefore %+v\nafter  %+v", b.ID, b, a)
		}
	}
	if d := th2.job("Done"); !d.HasMoreData || d.State != api.Completed {
		t.Errorf("Done is %s, HasMoreData %v", d.State, d.HasMoreData)
	}
	if d := th2.job("Drained"); d.HasMoreData {
		t.Error("a drained job has HasMoreData true after a restart")
	}
	if got := th2.receive([]string{"Done"}, ReceiveOptions{Keep: true}).texts(); !equalStrings(got, []string{"line1", "line2", "line3"}) {
		t.Errorf("receive --keep after a restart: %q", got)
	}
	got := th2.receive([]string{"*"}, ReceiveOptions{})
	if !equalStrings(got.texts(), []string{"line1", "line2", "line3"}) {
		t.Errorf("receive after a restart: %q", got.texts())
	}
	th2.close()

	// The drain itself persisted.
	th3 := openHost(t, home, Options{})
	if d := th3.job("Done"); d.HasMoreData {
		t.Error("a job drained before a restart has HasMoreData true after it")
	}
	if got := th3.receive([]string{"*"}, ReceiveOptions{}); len(got.lines) != 0 {
		t.Errorf("records came twice: %q", got.texts())
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestSecondOpenConflicts(t *testing.T) {
	home := testHome(t)
	th := openHost(t, home, Options{})
	h2, err := Open(Options{Home: home, Runtimes: runtimesDir})
	if err == nil {
		h2.Close()
		t.Fatal("a second host opened on a home in use")
	}
	wantCode(t, "second Open", err, api.ExitConflict)
	if !strings.Contains(err.Error(), home) {
		t.Errorf("error %q does not name the home", err)
	}
	// The first host is unharmed.
	th.start("echo still")
	th.wait("1")
	pid, err := os.ReadFile(filepath.Join(home, "host.pid"))
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("host.pid = %q, %v; want this process", pid, err)
	}
	th.close()
	if _, err := os.Stat(filepath.Join(home, "host.pid")); !os.IsNotExist(err) {
		t.Errorf("host.pid after Close: %v", err)
	}
	th2 := openHost(t, home, Options{})
	if j := th2.job("1"); j.State != api.Completed {
		t.Errorf("job 1 is %s", j.State)
	}
}

func TestOpenWithoutHome(t *testing.T) {
	if h, err := Open(Options{}); err == nil {
		h.Close()
		t.Fatal("Open without a home succeeded")
	}
}

func TestReattachAfterClose(t *testing.T) {
	for _, drained := range []bool{false, true} {
		name := "undrained"
		if drained {
			name = "first line drained"
		}
		t.Run(name, func(t *testing.T) {
			home := testHome(t)
			dir := t.TempDir()
			th := openHost(t, home, Options{})
			th.start("echo a; while [ ! -e go ]; do sleep 0.02; done; echo b", func(r *api.StartRequest) { r.Workdir = dir })
			th.waitOutput("1", "a")
			want := []string{"a", "b"}
			if drained {
				if got := th.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"a"}) {
					t.Fatalf("receive before the restart: %q", got)
				}
				want = []string{"b"}
			}
			// Runtimes outlive their host.
			th.close()
			touch(t, dir, "go")

			th2 := openHost(t, home, Options{})
			if j := th2.job("1"); j.State.Finished() && j.State != api.Completed {
				t.Fatalf("after reattaching the job is %s: %s", j.State, j.StateReason)
			}
			got := th2.receive([]string{"1"}, ReceiveOptions{Wait: true})
			if !equalStrings(got.texts(), want) {
				t.Errorf("received %q after reattaching, want %q", got.texts(), want)
			}
			for i, l := range got.lines {
				if wantSeq := uint64(i + 1 + boolInt(drained)); l.seq != wantSeq {
					t.Errorf("line %q has seq %d, want %d", l.text, l.seq, wantSeq)
				}
			}
			j := th2.job("1")
			if j.State != api.Completed || j.ExitCode == nil || *j.ExitCode != 0 || j.HasMoreData {
				t.Errorf("after reattaching the job is %s (%s), exit code %v, HasMoreData %v", j.State, j.StateReason, j.ExitCode, j.HasMoreData)
			}
			if again := th2.receive([]string{"1"}, ReceiveOptions{}); len(again.lines) != 0 {
				t.Errorf("lines came twice: %q", again.texts())
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A job that runs across a restart keeps the time it began: it is Running
// all along, so it must have a PSBeginTime, and it is the one it had.
func TestReattachKeepsBeginTime(t *testing.T) {
	home := testHome(t)
	dir := t.TempDir()
	th := openHost(t, home, Options{})
	th.start("echo a; while [ ! -e go ]; do sleep 0.02; done", func(r *api.StartRequest) { r.Workdir = dir })
	th.waitOutput("1", "a")
	began := th.job("1").PSBeginTime
	if began == nil {
		t.Fatal("a running job has no PSBeginTime")
	}
	th.close()

	th2 := openHost(t, home, Options{})
	t.Cleanup(func() { touch(t, dir, "go") })
	j := th2.job("1")
	if j.State != api.Running {
		t.Fatalf("after reattaching the job is %s (%s), want Running", j.State, j.StateReason)
	}
	if j.PSBeginTime == nil || !j.PSBeginTime.Equal(*began) {
		t.Errorf("a reattached running job's PSBeginTime is %v, want %v (the time it began before the restart)", j.PSBeginTime, began)
	}
	touch(t, dir, "go")
	fin := th2.wait("1")[0]
	if fin.PSBeginTime == nil || !fin.PSBeginTime.Equal(*began) {
		t.Errorf("a job that ran across a restart ended with PSBeginTime %v (PSEndTime %v), want %v", fin.PSBeginTime, fin.PSEndTime, began)
	}
}

// Closing a host right after a Start must not lose the job: either its
// runtime goes on and the next host reattaches, or it is queued again.
func TestCloseRightAfterStart(t *testing.T) {
	home := testHome(t)
	th := openHost(t, home, Options{})
	th.start("echo hello")
	th.close()

	th2 := openHost(t, home, Options{})
	j := th2.wait("1")[0]
	if j.State != api.Completed {
		t.Errorf("a job started just before its host closed ended %s: %s", j.State, j.StateReason)
	}
	if got := th2.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"hello"}) {
		t.Errorf("its output is %q, want [hello]", got)
	}
}

func TestQueuedJobsRunAfterRestart(t *testing.T) {
	home := testHome(t)
	th := openHost(t, home, Options{MaxRunning: 1})
	th.start("echo up; sleep 1000", named("blocker"))
	th.waitOutput("blocker", "up")
	th.start("echo queued", named("q"))
	if q := th.job("q"); q.State != api.NotStarted {
		t.Fatalf("queued job is %s", q.State)
	}
	ctx := context.Background()
	if _, err := th.Stop(ctx, []string{"blocker"}); err != nil {
		t.Fatal(err)
	}
	th.wait("q")
	th.close()
	// And one that is still queued when the host closes runs on the next.
	th2 := openHost(t, home, Options{MaxRunning: 1})
	th2.start("echo up; sleep 1000", named("blocker2"))
	th2.waitOutput("blocker2", "up")
	th2.start("echo later", named("q2"))
	th2.close()
	th3 := openHost(t, home, Options{MaxRunning: 1})
	if _, err := th3.Stop(ctx, []string{"blocker2"}); err != nil {
		t.Fatal(err)
	}
	if j := th3.wait("q2")[0]; j.State != api.Completed {
		t.Errorf("a job queued across a restart ended %s: %s", j.State, j.StateReason)
	}
	if got := th3.receive([]string{"q2"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"later"}) {
		t.Errorf("its output is %q", got)
	}
}

// A job that ends while no host is attached: its runtime keeps the end and
// the unacknowledged records for the next host.
func TestJobEndsWhileHostAway(t *testing.T) {
	home := testHome(t)
	dir := t.TempDir()
	th := openHost(t, home, Options{})
	th.start("echo a; while [ ! -e go ]; do sleep 0.02; done; echo b; echo c >&2; exit 5", func(r *api.StartRequest) { r.Workdir = dir })
	th.waitOutput("1", "a")
	th.close()
	touch(t, dir, "go")
	// Give the job time to end with no host attached.
	time.Sleep(300 * time.Millisecond)

	th2 := openHost(t, home, Options{})
	j := th2.wait("1")[0]
	if j.State != api.Failed || j.ExitCode == nil || *j.ExitCode != 5 {
		t.Errorf("the job ended %s, exit code %v (%s); want Failed, 5", j.State, j.ExitCode, j.StateReason)
	}
	if got := th2.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"a", "b", "c"}) {
		t.Errorf("received %q, want [a b c]", got)
	}
}

// A runtime that died while no host was attached cannot be reattached: the
// job fails, keeping what it had sent.
func TestRuntimeDiesWhileHostAway(t *testing.T) {
	home := testHome(t)
	dir := t.TempDir()
	th := openHost(t, home, Options{})
	th.start(`echo a; sh -c 'echo $PPID > rt.pid; echo $$ > job.pid; exec sleep 1000'`, func(r *api.StartRequest) { r.Workdir = dir })
	pid := waitPid(t, filepath.Join(dir, "rt.pid"))
	// The job's process outlives a killed runtime; end it with the test.
	jobPid := waitPid(t, filepath.Join(dir, "job.pid"))
	t.Cleanup(func() { syscall.Kill(jobPid, syscall.SIGKILL) })
	th.waitOutput("1", "a")
	th.close()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)

	th2 := openHost(t, home, Options{})
	j := th2.wait("1")[0]
	if j.State != api.Failed || j.StateReason == "" {
		t.Errorf("the job whose runtime died ended %s: %q; want Failed with a reason", j.State, j.StateReason)
	}
	if got := th2.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"a"}) {
		t.Errorf("received %q, want [a]", got)
	}
}

// A host that died in the middle of appending a batch leaves a torn record
// at the end of the log; the next host cuts it and gets the records again
// from the runtime.
func TestRecoveryCutsTornTail(t *testing.T) {
	home := testHome(t)
	dir := t.TempDir()
	th := openHost(t, home, Options{})
	th.start("echo a; while [ ! -e go ]; do sleep 0.02; done; echo b", func(r *api.StartRequest) { r.Workdir = dir })
	th.waitOutput("1", "a")
	th.close()
	logPath := filepath.Join(home, "jobs", "1.log")
	whole, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	torn := frame(t, chunkRec(2, "b\n"))
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(torn[:len(torn)-1])
	f.Close()

	th2 := openHost(t, home, Options{})
	if fi, err := os.Stat(logPath); err != nil || fi.Size() != int64(len(whole)) {
		t.Errorf("after recovery the log has %v bytes, want %d: %v", fi.Size(), len(whole), err)
	}
	touch(t, dir, "go")
	got := th2.receive([]string{"1"}, ReceiveOptions{Wait: true})
	if !equalStrings(got.texts(), []string{"a", "b"}) {
		t.Errorf("received %q, want [a b]", got.texts())
	}
	if len(got.lines) == 2 && (got.lines[0].seq != 1 || got.lines[1].seq != 2) {
		t.Errorf("seqs %d, %d", got.lines[0].seq, got.lines[1].seq)
	}
}

// waitSpare waits until the host has a spare runtime ready.
func (th *testHost) waitSpare() {
	th.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		th.Host.mu.Lock()
		ready := false
		for _, sp := range th.Host.spares {
			ready = ready || sp != nil
		}
		th.Host.mu.Unlock()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			th.t.Fatal("no spare runtime within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A job that runs on a spare runtime keeps running across a host restart;
// the next host's own spares and jobs must leave its socket alone, so that
// a later host can still reattach to it.
func TestSpareSocketSurvivesRestarts(t *testing.T) {
	home := testHome(t)
	dir := t.TempDir()
	th := openHost(t, home, Options{})
	th.start("echo 1")
	th.wait("1")
	th.waitSpare()
	th.start("echo up; while [ ! -e go ]; do sleep 0.02; done; echo done", func(r *api.StartRequest) { r.Workdir = dir })
	th.waitOutput("2", "up")
	att, err := readAttach(th.sockDir(2))
	if err != nil {
		t.Fatalf("job 2's reattach record: %v", err)
	}
	t.Logf("job 2's runtime listens on %s (socket directory %s)", att.Addr, att.SockDir)
	th.close()

	// A second host reattaches to job 2 and runs two short jobs, the second
	// on a spare.
	th2 := openHost(t, home, Options{})
	if j := th2.job("2"); j.State != api.Running {
		t.Fatalf("after the first restart job 2 is %s: %s", j.State, j.StateReason)
	}
	th2.start("echo 3")
	th2.wait("3")
	th2.waitSpare()
	th2.start("echo 4")
	th2.wait("4")
	// Job 4's runtime is let go in the background; give it the time.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(th2.sockDir(4)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job 4's socket directory is still there 5s after it ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(att.Addr); err != nil {
		t.Errorf("job 2's runtime socket is gone while job 2 still runs (%v): the second host's spare reused the first host's spare name, and letting it go removed the shared socket directory %s", err, att.SockDir)
	}
	th2.close()

	// A third host must still reach job 2.
	th3 := openHost(t, home, Options{})
	touch(t, dir, "go")
	j := th3.wait("2")[0]
	if j.State != api.Completed {
		t.Errorf("after a second restart job 2 ended %s: %s", j.State, j.StateReason)
	}
	if got := th3.receive([]string{"2"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"up", "done"}) {
		t.Errorf("job 2's output %q, want [up done]", got)
	}
}

// pluginProcs returns the pids of live processes whose plugin socket
// directory lies under prefix.
func pluginProcs(t *testing.T, prefix string) []int {
	t.Helper()
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc")
	}
	return pluginPids(prefix)
}

// Close ends the host: a runtime it was starting ahead of need (a spare)
// must not outlive it, or a program that exits after Close (bgjobd does)
// leaves that runtime behind, and its start goes on writing into the home.
func TestCloseLeavesNoSpareBehind(t *testing.T) {
	// A runtime that is slow to start, so that Close comes while the
	// spare is still starting.
	wrapper := filepath.Join(t.TempDir(), "bgjob-shell")
	script := "#!/bin/sh\nsleep 0.5\nexec " + shellBinary + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := catalog.Open(root).Install(context.Background(), wrapper); err != nil {
		t.Fatal(err)
	}
	home := testHome(t)
	th := openHost(t, home, Options{Runtimes: root})
	th.start("echo hi")
	th.wait("1")
	th.close()
	left := pluginProcs(t, filepath.Join(home, "run", "spare"))
	// Whatever is left ends with the test.
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for len(pluginProcs(t, filepath.Join(home, "run"))) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, pid := range pluginProcs(t, filepath.Join(home, "run")) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if len(left) > 0 {
		t.Errorf("after Close returned, spare runtime processes %v of the closed host still run (a spare still starting: Close does not wait for it)", left)
	}
}
