package host_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/host/internal/hosttest"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
)

// restartable is a home and the options to open a host on it again, with
// the same fake launcher (whose processes outlive each host).
func restartable(t *testing.T, mods ...func(*host.Options)) (string, host.Options, *fakert.Launcher) {
	t.Helper()
	opts, l := hosttest.Fake(t)
	for _, m := range mods {
		m(&opts)
	}
	return hosttest.Home(t), opts, l
}

func TestPersistFinishedJob(t *testing.T) {
	home, opts, _ := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo line1; echo line2; echo line3", named("Done"))
	th.Start("echo drained", named("Drained"))
	th.Start("exit 4", named("Bad"))
	th.Await("*")
	th.Take([]string{"Drained"}, host.ReceiveOptions{})
	before, err := th.Jobs(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	th.Close()

	th2 := hosttest.Open(t, home, opts)
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
	if d := th2.Job("Done"); !d.HasMoreData || d.State != api.Completed {
		t.Errorf("Done is %s, HasMoreData %v", d.State, d.HasMoreData)
	}
	if d := th2.Job("Drained"); d.HasMoreData {
		t.Error("a drained job has HasMoreData true after a restart")
	}
	if got := th2.Take([]string{"Done"}, host.ReceiveOptions{Keep: true}).Texts(); !equalStrings(got, []string{"line1", "line2", "line3"}) {
		t.Errorf("receive --keep after a restart: %q", got)
	}
	got := th2.Take([]string{"*"}, host.ReceiveOptions{})
	if !equalStrings(got.Texts(), []string{"line1", "line2", "line3"}) {
		t.Errorf("receive after a restart: %q", got.Texts())
	}
	th2.Close()

	// The drain itself persisted.
	th3 := hosttest.Open(t, home, opts)
	if d := th3.Job("Done"); d.HasMoreData {
		t.Error("a job drained before a restart has HasMoreData true after it")
	}
	if got := th3.Take([]string{"*"}, host.ReceiveOptions{}); len(got.Lines) != 0 {
		t.Errorf("records came twice: %q", got.Texts())
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestReattachAfterClose(t *testing.T) {
	for _, drained := range []bool{false, true} {
		name := "undrained"
		if drained {
			name = "first line drained"
		}
		t.Run(name, func(t *testing.T) {
			home, opts, l := restartable(t)
			th := hosttest.Open(t, home, opts)
			th.Start("echo a; wait go; echo b")
			th.WaitOutput("1", "a")
			want := []string{"a", "b"}
			if drained {
				if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"a"}) {
					t.Fatalf("receive before the restart: %q", got)
				}
				want = []string{"b"}
			}
			// Runtimes outlive their host.
			th.Close()
			th2 := hosttest.Open(t, home, opts)
			if j := th2.Job("1"); j.State != api.Running {
				t.Fatalf("after reattaching the job is %s: %s", j.State, j.StateReason)
			}
			l.Open("go")
			got := th2.Take([]string{"1"}, host.ReceiveOptions{Wait: true})
			if !equalStrings(got.Texts(), want) {
				t.Errorf("received %q after reattaching, want %q", got.Texts(), want)
			}
			for i, ln := range got.Lines {
				if wantSeq := uint64(i + 1 + boolInt(drained)); ln.Seq != wantSeq {
					t.Errorf("line %q has seq %d, want %d", ln.Text, ln.Seq, wantSeq)
				}
			}
			j := th2.Job("1")
			if j.State != api.Completed || j.ExitCode == nil || *j.ExitCode != 0 || j.HasMoreData {
				t.Errorf("after reattaching the job is %s (%s), exit code %v, HasMoreData %v", j.State, j.StateReason, j.ExitCode, j.HasMoreData)
			}
			if again := th2.Take([]string{"1"}, host.ReceiveOptions{}); len(again.Lines) != 0 {
				t.Errorf("lines came twice: %q", again.Texts())
			}
			if l.Runs(1) != 1 {
				t.Errorf("the job ran %d times", l.Runs(1))
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

// A job that runs across a restart keeps the time it began.
func TestReattachKeepsBeginTime(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; wait go")
	th.WaitOutput("1", "a")
	began := th.Job("1").PSBeginTime
	if began == nil {
		t.Fatal("a running job has no PSBeginTime")
	}
	th.Close()

	th2 := hosttest.Open(t, home, opts)
	j := th2.Job("1")
	if j.State != api.Running {
		t.Fatalf("after reattaching the job is %s (%s), want Running", j.State, j.StateReason)
	}
	if j.PSBeginTime == nil || !j.PSBeginTime.Equal(*began) {
		t.Errorf("a reattached running job's PSBeginTime is %v, want %v (the time it began before the restart)", j.PSBeginTime, began)
	}
	l.Open("go")
	fin := th2.Await("1")[0]
	if fin.PSBeginTime == nil || !fin.PSBeginTime.Equal(*began) {
		t.Errorf("a job that ran across a restart ended with PSBeginTime %v (PSEndTime %v), want %v", fin.PSBeginTime, fin.PSEndTime, began)
	}
}

// Closing a host right after a Start must not lose the job: either its
// runtime goes on and the next host reattaches, or it is queued again.
func TestCloseRightAfterStart(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo hello")
	th.Close()

	th2 := hosttest.Open(t, home, opts)
	j := th2.Await("1")[0]
	if j.State != api.Completed {
		t.Errorf("a job started just before its host closed ended %s: %s", j.State, j.StateReason)
	}
	if got := th2.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"hello"}) {
		t.Errorf("its output is %q, want [hello]", got)
	}
	if n := l.Runs(1); n != 1 {
		t.Errorf("the job ran %d times", n)
	}
}

func TestQueuedJobsRunAfterRestart(t *testing.T) {
	home, opts, l := restartable(t, maxRunning(1))
	th := hosttest.Open(t, home, opts)
	th.Start("echo up; wait b1", named("blocker"))
	th.WaitOutput("blocker", "up")
	th.Start("echo later", named("q"))
	th.Close()
	th2 := hosttest.Open(t, home, opts)
	if q := th2.Job("q"); q.State != api.NotStarted {
		t.Fatalf("a job queued across a restart is %s", q.State)
	}
	l.Open("b1")
	if j := th2.Await("q")[0]; j.State != api.Completed {
		t.Errorf("a job queued across a restart ended %s: %s", j.State, j.StateReason)
	}
	if got := th2.Take([]string{"q"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"later"}) {
		t.Errorf("its output is %q", got)
	}
}

// A job that ends while no host is attached: its runtime keeps the end and
// the unacknowledged records for the next host.
func TestJobEndsWhileHostAway(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; wait go; echo b; echoerr c; exit 5")
	th.WaitOutput("1", "a")
	th.Close()
	l.Open("go")

	th2 := hosttest.Open(t, home, opts)
	j := th2.Await("1")[0]
	if j.State != api.Failed || j.ExitCode == nil || *j.ExitCode != 5 {
		t.Errorf("the job ended %s, exit code %v (%s); want Failed, 5", j.State, j.ExitCode, j.StateReason)
	}
	if got := th2.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"a", "b", "c"}) {
		t.Errorf("received %q, want [a b c]", got)
	}
}

// A runtime that died while no host was attached cannot be reattached: the
// job fails, keeping what it had sent.
func TestRuntimeDiesWhileHostAway(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; sleep")
	th.WaitOutput("1", "a")
	th.Close()
	l.Crash(1)

	th2 := hosttest.Open(t, home, opts)
	j := th2.Await("1")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "could not be reattached") {
		t.Errorf("the job whose runtime died ended %s: %q; want Failed with a reason", j.State, j.StateReason)
	}
	if got := th2.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"a"}) {
		t.Errorf("received %q, want [a]", got)
	}
}

// Recovery loads every job before any reattached runtime may end: a job
// that ended while the host was away frees its slot at once, and the queue
// must then find the other reattached jobs Running, not run them again. (A
// row is NotStarted on disk while its job runs.) Run under -race, this also
// shows that recovery and the relays it starts share the table safely.
func TestRecoveryRunsEachJobOnce(t *testing.T) {
	home, opts, l := restartable(t, maxRunning(3))
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; wait endA", named("A"))
	th.Start("echo b-start; wait endB; echo b-end", named("B"))
	th.Start("echo c; wait endC", named("C"))
	th.Start("echo d", named("D")) // queued: three run at once
	for _, s := range []string{"A", "B", "C"} {
		th.WaitOutput(s, strings.ToLower(s)+map[string]string{"A": "", "B": "-start", "C": ""}[s])
	}
	th.Close()
	l.Open("endA")
	l.Open("endC")

	th2 := hosttest.Open(t, home, opts)
	th2.Await("A", "C", "D")
	if j := th2.Job("B"); j.State != api.Running {
		t.Fatalf("B is %s after the restart, want Running", j.State)
	}
	l.Open("endB")
	th2.Await("B")
	for id := uint64(1); id <= 4; id++ {
		if n := l.Runs(id); n != 1 {
			t.Errorf("job %d ran %d times, want once", id, n)
		}
	}
	got := th2.Take([]string{"B"}, host.ReceiveOptions{}).Texts()
	if !equalStrings(got, []string{"b-start", "b-end"}) {
		t.Errorf("B's output %q, want each line once", got)
	}
}

// A host that died in the middle of appending a batch leaves a torn record
// at the end of the log; the next host cuts it and gets the records again
// from the runtime.
func TestRecoveryCutsTornTail(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; wait go; echo b")
	th.WaitOutput("1", "a")
	th.Close()
	logPath := filepath.Join(home, "jobs", "1.log")
	whole, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	torn, err := recordlog.AppendFramed(nil, &sdk.Record{Seq: 2, Stream: sdk.Output, Chunk: []byte("b\n"), Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, logPath, torn[:len(torn)-1])

	th2 := hosttest.Open(t, home, opts)
	if fi, err := os.Stat(logPath); err != nil || fi.Size() != int64(len(whole)) {
		t.Errorf("after recovery the log has %v bytes, want %d: %v", fi.Size(), len(whole), err)
	}
	l.Open("go")
	got := th2.Take([]string{"1"}, host.ReceiveOptions{Wait: true})
	if !equalStrings(got.Texts(), []string{"a", "b"}) {
		t.Errorf("received %q, want [a b]", got.Texts())
	}
	if len(got.Lines) == 2 && (got.Lines[0].Seq != 1 || got.Lines[1].Seq != 2) {
		t.Errorf("seqs %d, %d", got.Lines[0].Seq, got.Lines[1].Seq)
	}
}

// Damage that is not a torn tail is reported, and the log is left as it
// is: cutting it there would throw away records the runtime no longer has.
func TestRecoveryKeepsDamagedLog(t *testing.T) {
	home, opts, _ := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; echo b; sleep")
	th.WaitOutput("1", "b")
	th.Close()
	logPath := filepath.Join(home, "jobs", "1.log")
	good, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Garbage before the records: a frame that does not decode, with
	// records after it.
	damaged := append([]byte{3, 0xff, 0xff, 0xff}, good...)
	if err := os.WriteFile(logPath, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	o := opts
	o.Home = home
	h, err := host.Open(o)
	if err == nil {
		h.Close()
		t.Fatal("a host opened over a damaged record log without a word")
	}
	if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "1.log") {
		t.Errorf("the error %q does not say the job's log is corrupt", err)
	}
	if now, _ := os.ReadFile(logPath); !bytes.Equal(now, damaged) {
		t.Errorf("recovery changed the damaged log: %d bytes, was %d", len(now), len(damaged))
	}
	if _, err := os.Stat(filepath.Join(home, "host.pid")); !os.IsNotExist(err) {
		t.Errorf("a host that did not open left host.pid: %v", err)
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// Close waits for what the host does in the background: the runtime of a
// job that just ended is let go before Close returns, not after.
func TestCloseReleasesFinishedRuntimes(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	for i := 0; i < 5; i++ {
		th.Start("echo x")
	}
	th.Await("*")
	th.Close()
	if n := l.Alive(); n != 0 {
		t.Errorf("%d runtimes of finished jobs still run after Close returned", n)
	}
}
