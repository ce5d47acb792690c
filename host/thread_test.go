//go:build unix

package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

func threaded(limit int) func(*api.StartRequest) {
	return func(r *api.StartRequest) { r.Thread, r.ThrottleLimit = true, limit }
}

// waitPids waits until jobs 1..n have each written their pid to pid.N in
// dir, and returns the pids in job order.
func waitPids(t *testing.T, dir string, n int) []string {
	t.Helper()
	// A file per job: thread jobs share a process, and an echo there is
	// two writes, so lines appended to one file by several can interleave.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var pids []string
		for i := 1; i <= n; i++ {
			b, _ := os.ReadFile(filepath.Join(dir, "pid."+strconv.Itoa(i)))
			if strings.HasSuffix(string(b), "\n") {
				pids = append(pids, strings.TrimSpace(string(b)))
			}
		}
		if len(pids) == n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the jobs 1..%d wrote their pid (pid.N in %s)", len(pids), n, dir)
		}
	}
}

// Thread jobs share one runtime process, each in its own interpreter, at
// most the throttle limit at once; the rest wait as NotStarted rows.
func TestRealThreadJobsShareAndThrottle(t *testing.T) {
	th := realHost(t)
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		j := th.Start(`echo $$ > pid.$BGJOB_JOB_ID; X=$BGJOB_JOB_ID; while [ ! -e go ]; do sleep 0.02; done; echo "x=$X"`, inDir(dir), threaded(2))
		if j.PSJobTypeName != "ThreadJob" {
			t.Fatalf("a thread job's type is %q", j.PSJobTypeName)
		}
	}
	pids := waitPids(t, dir, 2)
	if pids[0] != pids[1] {
		t.Errorf("two running thread jobs ran in processes %v, want one shared", pids)
	}
	if j := th.Job("3"); j.State != api.NotStarted {
		t.Errorf("a third thread job over a limit of 2 is %s, want NotStarted", j.State)
	}
	hosttest.Touch(t, dir, "go")
	th.Await("1", "2", "3")
	for _, id := range []string{"1", "2", "3"} {
		if got := th.Take([]string{id}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"x=" + id}) {
			t.Errorf("thread job %s said %q: its own variables only", id, got)
		}
	}
	if all := waitPids(t, dir, 3); all[2] != all[0] {
		t.Errorf("the queued thread job ran in process %s, not the shared %s", all[2], all[0])
	}
}

// Stopping one thread job leaves the others running; a crash of the
// shared process fails exactly its running jobs, naming it.
func TestRealThreadJobStopAndCrash(t *testing.T) {
	th := realHost(t, stopGrace(300*time.Millisecond))
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		th.Start(`echo $$ > pid.$BGJOB_JOB_ID; while [ ! -e go ]; do sleep 0.02; done; echo done`, inDir(dir), threaded(5))
	}
	pids := waitPids(t, dir, 3)
	if js, err := th.Stop(context.Background(), []string{"1"}); err != nil || js[0].State != api.Stopped {
		t.Fatalf("stop of one thread job: %v %v", js, err)
	}
	for _, id := range []string{"2", "3"} {
		if j := th.Job(id); j.State != api.Running {
			t.Errorf("stopping job 1 left thread job %s %s", id, j.State)
		}
	}
	// An ordinary job, in a process of its own, to see it is untouched.
	th.Start(`echo started; while [ ! -e go ]; do sleep 0.02; done; echo solo`, inDir(dir))
	th.WaitOutput("4", "started")
	pid, err := strconv.Atoi(pids[1])
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for _, j := range th.Await("2", "3") {
		if j.State != api.Failed || !strings.Contains(j.StateReason, "crashed or was killed") {
			t.Errorf("thread job %d after its process was killed: %s (%s)", j.ID, j.State, j.StateReason)
		}
	}
	hosttest.Touch(t, dir, "go")
	if j := th.Await("4")[0]; j.State != api.Completed {
		t.Errorf("a job in its own process was hit by the crash: %s (%s)", j.State, j.StateReason)
	}
}

// Thread jobs go on across a host restart: the next host finds their
// shared process again, once for all of them, and each ends once.
func TestRealThreadJobsAcrossRestart(t *testing.T) {
	home := hosttest.Home(t)
	opts := host.Options{Runtimes: shell.Catalog}
	dir := t.TempDir()
	th := hosttest.Open(t, home, opts)
	for i := 0; i < 2; i++ {
		th.Start(`echo $$ > pid.$BGJOB_JOB_ID; echo before; while [ ! -e go ]; do sleep 0.02; done; echo after`, inDir(dir), threaded(5))
	}
	waitPids(t, dir, 2)
	th.Close()
	th2 := hosttest.Open(t, home, opts)
	hosttest.Touch(t, dir, "go")
	for _, j := range th2.Await("1", "2") {
		if j.State != api.Completed {
			t.Errorf("thread job %d across a restart: %s (%s)", j.ID, j.State, j.StateReason)
		}
	}
	for _, id := range []string{"1", "2"} {
		if got := th2.Take([]string{id}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"before", "after"}) {
			t.Errorf("thread job %s said %q across a restart", id, got)
		}
	}
}

// A job queued before its runtime's folder became writable by others is
// refused when it needs a new process for it: the runner's check before a
// job (catalog.Unchanged) may take the file's stat for the check it passed,
// since nothing is run on that, but the launcher walks the folders again
// before it starts a process, and never starts one from such a folder.
func TestRealQueuedJobsRuntimeMadeUnsafe(t *testing.T) {
	// Writable by others; and so but sticky, which the catalog accepts
	// above its root (as /tmp) but not within it: the launcher must
	// check with the catalog's own root.
	for _, mode := range []os.FileMode{0o777, 0o777 | os.ModeSticky} {
		t.Run(mode.String(), func(t *testing.T) { queuedJobsRuntimeMadeUnsafe(t, mode) })
	}
}

// settleTime is a little more than the catalog waits before it takes the
// stat of path, just changed, for its content: a tenth of a second on a
// file system this kernel stamps with nanoseconds (as the test's temporary
// folders are here), three seconds on whole-second times. (On a network
// file system it waits longer still; the test then passes by the runner's
// own walk.)
func settleTime(t *testing.T, path string) time.Duration {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().Nanosecond() == 0 {
		return 3100 * time.Millisecond
	}
	return 200 * time.Millisecond
}

func queuedJobsRuntimeMadeUnsafe(t *testing.T, mode os.FileMode) {
	root := t.TempDir()
	e, err := catalog.Open(root).Install(context.Background(), shell.Binary, catalog.InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The catalog takes a file's stat for its content only once it has
	// been left alone a while (see settleTime);
	// before that the runner would walk the folders itself, and this test
	// is of the launcher's walk.
	time.Sleep(settleTime(t, e.Path))
	th := hosttest.Open(t, "", host.Options{Runtimes: root, MaxRunning: 1})
	dir := t.TempDir()
	th.Start(`echo up; while [ ! -e go ]; do sleep 0.02; done`, named("blocker"), inDir(dir))
	th.WaitOutput("blocker", "up")
	marker := filepath.Join(dir, "ran")
	// After the blocker (a thread job does not count against MaxRunning):
	// it must not start before the folder changes.
	th.Start("echo ran > "+marker, named("queued"), inDir(dir), threaded(1), after("blocker"))
	if j := th.Job("queued"); j.State != api.NotStarted {
		t.Fatalf("the thread job is %s, not waiting for the blocker", j.State)
	}
	if err := os.Chmod(e.Dir, mode); err != nil {
		t.Fatal(err)
	}
	hosttest.Touch(t, dir, "go")
	j := th.Await("queued")[0]
	if j.State != api.Failed || !strings.Contains(j.StateReason, "chmod go-w") {
		t.Errorf("a thread job whose runtime's folder became writable by others while it was queued ended %s: %q; want Failed, naming the fix", j.State, j.StateReason)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the job ran in a runtime started from a folder others can write to")
	}
}

// A thread job that fails and has retries left runs again, with the same
// id, in the same shared process, often before that process has heard its
// first attempt's end acknowledged: the next attempt must run the script,
// not be handed the first attempt's end. (Batch children, their slots
// freed at their ends, met this a few times in a hundred.)
func TestRealRetriedThreadJobsRunAgain(t *testing.T) {
	for _, batch := range []bool{true, false} {
		t.Run(map[bool]string{true: "batch children", false: "thread jobs"}[batch], func(t *testing.T) {
			th := realHost(t, maxRunning(8))
			dir := t.TempDir()
			// Each run adds a line to runs.ID; the first run fails.
			script := `f=runs.$BGJOB_JOB_ID; echo x >> $f; read -r n < <(wc -l < $f); [ "$n" -ge 2 ] || exit 1`
			const n = 100
			retried := func(r *api.StartRequest) {
				r.Thread, r.ThrottleLimit = true, 4
				r.Retries = 3
				r.Workdir = dir
			}
			var ids []string
			if batch {
				items := make([]string, n)
				for i := range items {
					items[i] = strconv.Itoa(i)
				}
				p := th.Start(script, retried, func(r *api.StartRequest) { r.ForEach = items })
				ids = append(ids, strconv.FormatUint(p.ID, 10))
			} else {
				for range n {
					ids = append(ids, strconv.FormatUint(th.Start(script, retried).ID, 10))
				}
			}
			th.Await(ids...)
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != n {
				t.Fatalf("%d jobs ran, want %d", len(ents), n)
			}
			bad := 0
			for _, e := range ents {
				id := strings.TrimPrefix(e.Name(), "runs.")
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				if j := th.Job(id); j.State != api.Completed || strings.Count(string(b), "x") != 2 {
					if bad++; bad <= 3 {
						t.Errorf("job %s ended %s (%q) after %d runs of its script, want Completed after 2", id, j.State, j.StateReason, strings.Count(string(b), "x"))
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d jobs lost an attempt", bad, n)
			}
		})
	}
}
