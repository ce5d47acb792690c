package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/host/internal/hosttest"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	bolt "go.etcd.io/bbolt"
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
	before, err := th.Jobs(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	th.Close()

	th2 := hosttest.Open(t, home, opts)
	after, err := th2.Jobs(context.Background(), nil, nil)
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
	q := th2.Job("q")
	if q.State != api.NotStarted {
		t.Fatalf("a job queued across a restart is %s", q.State)
	}
	// Taken back, a queued job gets no record log yet: it is made with
	// its first records, as a new job's is (100,000 queued children would
	// otherwise each cost a file and a descriptor at every host start).
	if _, err := os.Lstat(filepath.Join(home, "jobs", fmt.Sprintf("%d.log", q.ID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the queued job has a record log after the restart (%v)", err)
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

// A job with a retry left whose runtime died while the host was away: the
// next host fails that attempt while it takes back its predecessor's jobs,
// before its table is published, and queues the next attempt, which must
// run; for a batch's child too, whose parent then completes. (The queue
// once kept the jobs it tracked before publishing in maps it then
// replaced, and never started the retry.)
func TestRetryAfterRuntimeDiedWhileHostAway(t *testing.T) {
	for _, tc := range []struct {
		name     string
		batch    bool
		child    string
		awaitFor string
	}{
		{"a job", false, "1", "1"},
		{"a batch's child", true, "2", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home, opts, l := restartable(t)
			th := hosttest.Open(t, home, opts)
			th.Start("echo a; wait go", func(r *api.StartRequest) {
				r.Retries = 1
				if tc.batch {
					r.ForEach = []string{"x"}
				}
			})
			th.WaitOutput(tc.child, "a")
			th.Close()
			id, _ := strconv.ParseUint(tc.child, 10, 64)
			l.Crash(id)

			th2 := hosttest.Open(t, home, opts)
			l.Open("go")
			if _, err := th2.Wait(context.Background(), []string{tc.awaitFor}, false, 10*time.Second); err != nil {
				j := th2.Job(tc.child)
				t.Fatalf("the retry did not run: %v; job %s is %s, attempt %d (%s)", err, tc.child, j.State, j.Attempt, j.StateReason)
			}
			if j := th2.Job(tc.awaitFor); j.State != api.Completed {
				t.Errorf("job %s ended %s (%s), want Completed on its retry", tc.awaitFor, j.State, j.StateReason)
			}
			if j := th2.Job(tc.child); j.Attempt != 2 {
				t.Errorf("job %s ended on attempt %d, want its retry (2)", tc.child, j.Attempt)
			}
		})
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
	framed, err := recordlog.AppendFramed(nil, &sdk.Record{Seq: 2, Stream: sdk.Output, Chunk: []byte("b\n"), Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	torn, _ := recordlog.AppendChecked(nil, framed) // as the host writes it
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

// Damage that is not a torn tail fails the job it is in, with a reason that
// says so, and leaves the log as it is: cutting it there would throw away
// records. The other jobs serve on, and the damaged one can be removed.
func TestRecoveryKeepsDamagedLog(t *testing.T) {
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; echo b; sleep")
	th.Start("echo other; wait go")
	th.WaitOutput("1", "b")
	th.WaitOutput("2", "other")
	th.Close()
	logPath := filepath.Join(home, "jobs", "1.log")
	good, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Garbage after the records, and a whole record after the garbage.
	more, _ := recordlog.AppendFramed(nil, &sdk.Record{Seq: 3, Stream: sdk.Output, Message: "c"})
	damaged := append(append(append([]byte{}, good...), 3, 0xff, 0xff, 0xff), more...)
	if err := os.WriteFile(logPath, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	th2 := hosttest.Open(t, home, opts)
	j := th2.Job("1")
	if j.State != api.Failed || !strings.Contains(j.StateReason, "damaged") || !strings.Contains(j.StateReason, "1.log") {
		t.Errorf("the job with a damaged log is %s: %q", j.State, j.StateReason)
	}
	if now, _ := os.ReadFile(logPath); !bytes.Equal(now, damaged) {
		t.Errorf("recovery changed the damaged log: %d bytes, was %d", len(now), len(damaged))
	}
	if got := th2.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"a", "b"}) {
		t.Errorf("the records before the damage: %q", got)
	}
	if l.Alive() != 1 {
		t.Errorf("%d runtimes alive; the damaged job's should have been ended, the other kept", l.Alive())
	}
	l.Open("go")
	if j := th2.Await("2")[0]; j.State != api.Completed {
		t.Errorf("the other job ended %s: %s", j.State, j.StateReason)
	}
	if err := th2.Remove(context.Background(), []string{"1"}, true); err != nil {
		t.Errorf("remove --force of the damaged job: %v", err)
	}
}

// A row that cannot be read, or a damaged table file, keeps no job from
// being served: the row's job is listed Failed (and can be removed); the
// table is set aside, with a notice, and a fresh one started.
func TestRecoveryDamagedTable(t *testing.T) {
	home, opts, _ := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo one")
	th.Start("echo two")
	th.Await("*")
	th.Close()
	// Job 1's row becomes garbage.
	db, err := bolt.Open(filepath.Join(home, "jobs.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("jobs")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("{garbage"))
	})
	db.Close()
	th2 := hosttest.Open(t, home, opts)
	j := th2.Job("1")
	if j.State != api.Failed || !strings.Contains(j.StateReason, "damaged") || !strings.Contains(j.StateReason, "remove --force 1") {
		t.Errorf("the job whose row is damaged: %s %q", j.State, j.StateReason)
	}
	if got := th2.Take([]string{"2"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"two"}) {
		t.Errorf("the other job's output: %q", got)
	}
	if err := th2.Remove(context.Background(), []string{"1"}, true); err != nil {
		t.Fatalf("remove --force of the damaged row: %v", err)
	}
	th2.Close()
	th3 := hosttest.Open(t, home, opts)
	if _, err := th3.Jobs(context.Background(), []string{"1"}, nil); !errors.Is(err, host.ErrNotFound) {
		t.Errorf("the removed damaged row is back: %v", err)
	}
	th3.Close()

	// The whole file damaged.
	path := filepath.Join(home, "jobs.db")
	b, _ := os.ReadFile(path)
	for i := 2 * 4096; i < len(b); i++ {
		b[i] = 0xa5
	}
	os.WriteFile(path, b, 0o600)
	th4 := hosttest.Open(t, home, opts)
	notices := th4.Notices()
	if len(notices) != 1 || !strings.Contains(notices[0], "set aside as "+path+".corrupt-") {
		t.Errorf("notices %q", notices)
	}
	if js, _ := th4.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Errorf("a fresh table lists %v", ids(js))
	}
	if j := th4.Start("echo fresh"); j.ID == 0 {
		t.Error("no job in the fresh table")
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("the damaged table was not kept: %v", aside)
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

// After a restart, the runtime of a job's failed attempt (the job waits to
// run again) is ended with the other runtimes no running job uses: the
// attempt's attach record, which stays until the next attempt's replaces
// it, does not keep the process. (It did: a process its host was killed
// before ending, holding that attempt's end, then waited an hour for a
// host that never came.) A running job's runtime is kept.
func TestRestartEndsTheRuntimeOfAFailedAttempt(t *testing.T) {
	home, opts, l := restartable(t)
	opts.Launcher = fakert.Sweeping{Launcher: l}
	l.LoseReleases() // the host is "killed" before the failed attempt's runtime ends
	th := hosttest.Open(t, home, opts)
	th.Start("echo b; wait go", named("Runs"))
	th.WaitOutput("Runs", "b")
	th.Start("echo a; exit 3", named("Retry"), func(r *api.StartRequest) { r.Retries, r.RetryDelay = 1, time.Hour })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if j := th.Job("Retry"); j.State == api.NotStarted && j.Attempt == 1 {
			break // its first attempt failed; it waits an hour to run again
		}
		if time.Now().After(deadline) {
			j := th.Job("Retry")
			t.Fatalf("Retry is %s on attempt %d, want NotStarted after attempt 1", j.State, j.Attempt)
		}
	}
	th.Close()
	alive := l.Alive()
	if alive != 2 {
		t.Fatalf("%d fake processes alive after the host closed, want 2 (the failed attempt's and Runs')", alive)
	}
	th2 := hosttest.Open(t, home, opts)
	if n := l.Alive(); n != 1 {
		t.Errorf("%d processes alive after the restart, want 1: the failed attempt's should have been ended", n)
	}
	l.Open("go")
	th2.Await("Runs")
	if got := th2.Take([]string{"Runs"}, host.ReceiveOptions{}).Texts(); fmt.Sprint(got) != "[b]" {
		t.Errorf("Runs received %q, want [b]: its runtime was kept and taken back", got)
	}
}

// A host coming back removes the runtime logs of spares and of jobs its
// table does not have (a start --wait row a power loss took before its
// sync, whose id may be given again), and keeps its jobs' own.
func TestRecoverySweepsRuntimeLogs(t *testing.T) {
	home, opts, _ := restartable(t)
	th := hosttest.Open(t, home, opts)
	th.Start("echo kept", named("Kept"))
	th.Await("*")
	id := th.Job("Kept").ID
	th.Close()
	dir := filepath.Join(home, "jobs")
	kept := filepath.Join(dir, fmt.Sprintf("%d.runtime.log", id))
	gone := []string{filepath.Join(dir, fmt.Sprintf("%d.runtime.log", id+1)), filepath.Join(dir, "spare42.runtime.log")}
	for _, f := range append(gone, kept) {
		if err := os.WriteFile(f, []byte("log\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hosttest.Open(t, home, opts).Close()
	for _, f := range gone {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there after a restart (%v)", f, err)
		}
	}
	if _, err := os.Lstat(kept); err != nil {
		t.Errorf("the runtime log of a job in the table: %v", err)
	}
}

// TestForegroundJobOfAnEarlierBoot: a start --wait job made before the
// machine last started belongs to a caller that is gone: the next host
// removes it, run or not, and never runs it. Any other job stays. (The
// reboot is made by rewriting the rows' boot in the table.)
func TestForegroundJobOfAnEarlierBoot(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err != nil {
		t.Skip("this system names no boot (no /proc/sys/kernel/random/boot_id)")
	}
	home, opts, l := restartable(t)
	th := hosttest.Open(t, home, opts)
	blocker := th.Start("wait gate", named("Blocker"))
	fg := host.WithForeground(context.Background())
	start := func(name, script string, after ...string) *api.Job {
		j, err := th.Host.Start(fg, &api.StartRequest{Script: script, Name: name, After: after, Workdir: t.TempDir(), Env: hosttest.JobEnv})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	queued := start("EarlierQueued", "echo queued", "Blocker")
	done := start("EarlierDone", "echo done")
	now := start("Now", "echo now")
	noBoot := start("NoBoot", "echo none") // a row from before boots were kept
	// A job that runs after the queued one: that one is stopped and
	// removed, so this one fails, as after any stopped job.
	dependent := th.Start("echo dependent", named("Dependent"), func(r *api.StartRequest) { r.After = []string{"EarlierQueued"} })
	th.Await("EarlierDone", "Now", "NoBoot") // no collector: their ends are written
	th.Close()

	st, err := store.Open(filepath.Join(home, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := st.All()
	if err != nil {
		t.Fatal(err)
	}
	var earlier []*store.Row
	for _, r := range rows {
		if r.ID == noBoot.ID {
			r.Boot = ""
			earlier = append(earlier, r)
		}
		if r.ID == queued.ID || r.ID == done.ID || r.ID == blocker.ID {
			if r.ID != blocker.ID && (!r.Foreground || r.Boot == "") {
				t.Fatalf("job %d (%s), made by a start --wait, is not marked with its boot: foreground %v, boot %q", r.ID, r.Name, r.Foreground, r.Boot)
			}
			r.Boot = "an-earlier-boot"
			earlier = append(earlier, r)
		}
	}
	if err := st.Put(earlier...); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Its files: a record log (its few records are in its row; one with
	// more has a file) and its runtime's log.
	files := []string{filepath.Join(home, "jobs", fmt.Sprintf("%d.log", done.ID)), filepath.Join(home, "jobs", fmt.Sprintf("%d.runtime.log", done.ID))}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("log\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	th = hosttest.Open(t, home, opts)
	for _, id := range []uint64{queued.ID, done.ID} {
		if _, err := th.Jobs(context.Background(), []string{strconv.FormatUint(id, 10)}, nil); !errors.Is(err, host.ErrNotFound) {
			t.Errorf("job %d, a start --wait job of an earlier boot, is still in the table (%v)", id, err)
		}
	}
	for _, f := range files {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("the removed job's %s is still there (%v)", f, err)
		}
	}
	for _, id := range []uint64{now.ID, blocker.ID, noBoot.ID} {
		if _, err := th.Jobs(context.Background(), []string{strconv.FormatUint(id, 10)}, nil); err != nil {
			t.Errorf("job %d is gone after the restart: %v", id, err)
		}
	}
	l.Open("gate") // the job the queued one waited for completes
	th.Await("*")
	if n := l.Runs(queued.ID); n != 0 {
		t.Errorf("the queued start --wait job of an earlier boot ran %d times, want never", n)
	}
	d := th.Job("Dependent")
	if d.State != api.Failed || !strings.Contains(d.StateReason, fmt.Sprintf("job %d", queued.ID)) || l.Runs(dependent.ID) != 0 {
		t.Errorf("the job that runs after the removed one: %s (%s), ran %d times; want Failed, not run, naming job %d", d.State, d.StateReason, l.Runs(dependent.ID), queued.ID)
	}
}
