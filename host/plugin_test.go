//go:build unix

package host_test

import (
	"context"
	"fmt"
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
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk/process"
)

// The tests here run the real shell runtime through the go-plugin launcher.

func realHost(t *testing.T, mods ...func(*host.Options)) *hosttest.Host {
	t.Helper()
	opts := host.Options{Runtimes: shell.Catalog}
	for _, m := range mods {
		m(&opts)
	}
	return hosttest.Open(t, "", opts)
}

func stopGrace(d time.Duration) func(*host.Options) { return func(o *host.Options) { o.StopGrace = d } }

func TestRealStopEndsProcessGroup(t *testing.T) {
	const grace = 500 * time.Millisecond
	th := realHost(t, stopGrace(grace))
	dir := t.TempDir()
	// sh prints its pid, then becomes sleep: the job's one process.
	th.Start(`echo started; sh -c 'echo $$ > sleep.pid; exec sleep 1000'`, inDir(dir))
	th.WaitOutput("1", "started")
	pid := waitPid(t, filepath.Join(dir, "sleep.pid"))
	js, err := th.Stop(context.Background(), []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].State != api.Stopped {
		t.Fatalf("Stop returned %+v, want job 1 Stopped", js)
	}
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"started"}) {
		t.Errorf("output %q", got)
	}
	waitGone(t, pid)
}

func TestRealStopJobIgnoringSIGTERM(t *testing.T) {
	th := realHost(t, stopGrace(300*time.Millisecond))
	dir := t.TempDir()
	th.Start(`sh -c 'trap "" TERM; echo $$ > stubborn.pid; while :; do sleep 0.05; done'`, inDir(dir))
	pid := waitPid(t, filepath.Join(dir, "stubborn.pid"))
	js, err := th.Stop(context.Background(), []string{"1"})
	if err != nil {
		t.Fatal(err)
	}
	if js[0].State != api.Stopped {
		t.Errorf("job is %s (%s)", js[0].State, js[0].StateReason)
	}
	waitGone(t, pid)
}

func TestRealRuntimeKilled(t *testing.T) {
	th := realHost(t)
	dir := t.TempDir()
	// An external command's parent is the runtime.
	th.Start(`echo before; sh -c 'echo $PPID > rt.pid; echo $$ > job.pid; exec sleep 1000'`, inDir(dir))
	pid := waitPid(t, filepath.Join(dir, "rt.pid"))
	jobPid := waitPid(t, filepath.Join(dir, "job.pid"))
	t.Cleanup(func() { syscall.Kill(jobPid, syscall.SIGKILL) })
	th.WaitOutput("1", "before")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	j := th.Await("1")[0]
	// The job's process, in a process group of its own, did not outlive
	// its runtime: the host ended the runtime's session.
	waitGone(t, jobPid)
	if j.State != api.Failed || !strings.Contains(j.StateReason, "crashed or was killed") {
		t.Errorf("after its runtime was killed the job is %s: %q", j.State, j.StateReason)
	}
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"before"}) {
		t.Errorf("the records sent before the crash: %q", got)
	}
	th.Start("echo after")
	if j := th.Await("2")[0]; j.State != api.Completed {
		t.Errorf("the next job ended %s", j.State)
	}
}

// A real runtime outlives its host and is found again through go-plugin's
// reattach, with the protocol the first host recorded; a runtime that died
// meanwhile is not.
func TestRealReattach(t *testing.T) {
	home := hosttest.Home(t)
	opts := host.Options{Runtimes: shell.Catalog}
	dir := t.TempDir()
	th := hosttest.Open(t, home, opts)
	th.Start("echo a; while [ ! -e go ]; do sleep 0.02; done; echo b", inDir(dir))
	th.Start(`echo x; sh -c 'echo $PPID > rt.pid; echo $$ > job.pid; exec sleep 1000'`, inDir(t.TempDir()))
	th.WaitOutput("1", "a")
	th.WaitOutput("2", "x")
	rtDir := th.Job("2").Workdir
	rt := waitPid(t, filepath.Join(rtDir, "rt.pid"))
	orphan := waitPid(t, filepath.Join(rtDir, "job.pid"))
	t.Cleanup(func() { syscall.Kill(orphan, syscall.SIGKILL) })
	th.Close()
	syscall.Kill(rt, syscall.SIGKILL)
	waitGone(t, rt)
	hosttest.Touch(t, dir, "go")

	th2 := hosttest.Open(t, home, opts)
	got := th2.Take([]string{"1"}, host.ReceiveOptions{Wait: true})
	if !equalStrings(got.Texts(), []string{"a", "b"}) {
		t.Errorf("received %q after reattaching, want [a b]", got.Texts())
	}
	if j := th2.Job("1"); j.State != api.Completed {
		t.Errorf("job 1 is %s (%s)", j.State, j.StateReason)
	}
	if j := th2.Await("2")[0]; j.State != api.Failed || !strings.Contains(j.StateReason, "could not be reattached") {
		t.Errorf("the job whose runtime died while the host was away is %s: %q", j.State, j.StateReason)
	}
	// What that job left running is ended by the host that found it so.
	waitGone(t, orphan)
}

// The real runtime runs a job from a file with an init script, arguments,
// input and working directory.
func TestRealFileArgsInputInit(t *testing.T) {
	th := realHost(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("echo \"args: $*\"\nwhile read l; do echo \"in: $l\"; done\necho \"x=$x\"\npwd\nwrite-warning careful\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "init.sh"), []byte("x=from-init\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Host.Start(context.Background(), &api.StartRequest{File: "r*.sh", InitFile: "init.sh", Args: []string{"a", "b c"},
		Input: []byte("one\ntwo\n"), Workdir: dir, Env: hosttest.JobEnv}); err != nil {
		t.Fatal(err)
	}
	if j := th.Await("1")[0]; j.State != api.Completed {
		t.Fatalf("job ended %s (%s)", j.State, j.StateReason)
	}
	got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts()
	want := []string{"args: a b c", "in: one", "in: two", "x=from-init", dir, "careful"}
	if !equalStrings(got, want) {
		t.Errorf("output %q, want %q", got, want)
	}
}

// An external command's output arrives in large chunks; every line comes
// once, numbered.
func TestRealReceiveWaitExternal(t *testing.T) {
	const n = 20000
	th := realHost(t)
	th.Start(fmt.Sprintf("seq -f line%%g 1 %d", n))
	got := th.Take([]string{"1"}, host.ReceiveOptions{Wait: true})
	checkSequence(t, got.Lines, n, "line")
}

// A job that runs on a spare runtime keeps running across a host restart;
// the next host's own spares and jobs must leave its socket alone, so that
// a later host can still reattach to it.
func TestSpareSocketSurvivesRestarts(t *testing.T) {
	home := hosttest.Home(t)
	opts := host.Options{Runtimes: shell.Catalog}
	dir := t.TempDir()
	th := hosttest.Open(t, home, opts)
	th.Start("echo 1")
	th.Await("1")
	waitSpare(t, home)
	th.Start("echo up; while [ ! -e go ]; do sleep 0.02; done; echo done", inDir(dir))
	th.WaitOutput("2", "up")
	th.Close()
	var att struct {
		Addr, SockDir string
	}
	jr, err := store.OpenJournal(filepath.Join(home, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	err = jr.LoadAttach(2, &att)
	jr.Close()
	if err != nil {
		t.Fatalf("job 2's reattach record: %v", err)
	}

	// A second host reattaches to job 2 and runs two short jobs, the second
	// on a spare.
	th2 := hosttest.Open(t, home, opts)
	if j := th2.Job("2"); j.State != api.Running {
		t.Fatalf("after the first restart job 2 is %s: %s", j.State, j.StateReason)
	}
	th2.Start("echo 3")
	th2.Await("3")
	waitSpare(t, home)
	th2.Start("echo 4")
	th2.Await("4")
	if _, err := os.Stat(att.Addr); err != nil {
		t.Errorf("job 2's runtime socket is gone while job 2 still runs (%v): letting a spare go removed the shared socket directory %s", err, att.SockDir)
	}
	th2.Close()

	th3 := hosttest.Open(t, home, opts)
	hosttest.Touch(t, dir, "go")
	if j := th3.Await("2")[0]; j.State != api.Completed {
		t.Errorf("after a second restart job 2 ended %s: %s", j.State, j.StateReason)
	}
	if got := th3.Take([]string{"2"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"up", "done"}) {
		t.Errorf("job 2's output %q, want [up done]", got)
	}
}

// Close ends the host: a runtime it was starting ahead of need (a spare)
// must not outlive it.
func TestCloseLeavesNoSpareBehind(t *testing.T) {
	// A runtime that is slow to start, so that Close comes while the
	// spare is still starting.
	wrapper := filepath.Join(t.TempDir(), "bgjob-shell")
	script := "#!/bin/sh\nsleep 0.5\nexec " + shell.Binary + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := catalog.Open(root).Install(context.Background(), wrapper, catalog.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	home := hosttest.Home(t)
	th := hosttest.Open(t, home, host.Options{Runtimes: root})
	th.Start("echo hi")
	th.Await("1")
	th.Close()
	left := pluginPids(filepath.Join(home, "run", "spare"))
	t.Cleanup(func() {
		for _, pid := range pluginPids(filepath.Join(home, "run")) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if len(left) > 0 {
		t.Errorf("after Close returned, spare runtime processes %v of the closed host still run", left)
	}
}

// waitSpare waits until a spare runtime of the host on home listens.
func waitSpare(t *testing.T, home string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		socks, _ := filepath.Glob(filepath.Join(home, "run", "spare*", "plugin*"))
		if len(socks) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare runtime within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pluginPids returns the pids of live processes whose plugin socket
// directory lies under prefix.
func pluginPids(prefix string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !process.Alive(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(kv, "PLUGIN_UNIX_SOCKET_DIR="+prefix) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
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

// waitGone waits until process pid has ended.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for process.Alive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("process %d still runs 10s after its job was stopped", pid)
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
