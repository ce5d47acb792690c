//go:build unix

package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk/process"
)

// A legacy-line (protocol 1) runtime outlives its host: once the host is
// killed, the pipes it gave the runtime are broken, and a connection to the
// runtime's socket that is reset makes go-plugin's net/rpc server log. That
// log goes to the runtime's log file, never to the dead host's pipe (a Go
// program writing to a broken pipe on descriptor 2 dies of SIGPIPE), and
// the next host reattaches and receives the rest.
func TestLegacyRuntimeOutlivesHost(t *testing.T) {
	h := newHome(t)
	work := t.TempDir()
	h.run("start", "--name", "long", "--runtime-version", "~1", "--workdir", work, "--",
		`echo first; while [ ! -e go ]; do sleep 0.02; done; echo second`)
	waitOutput(t, h, "long", "first")
	if err := killHost(h.path, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Connections to the runtime's socket (the host's link to it) that
	// are cut at once, and one that sends garbage.
	socks, _ := filepath.Glob(filepath.Join(h.path, "procs", "*.sock"))
	inRun, _ := filepath.Glob(filepath.Join(h.path, "run", "*", "plugin*"))
	socks = append(socks, inRun...)
	if len(socks) == 0 {
		t.Fatal("no runtime socket in the host's procs directory")
	}
	for _, sock := range socks {
		for i := 0; i < 3; i++ {
			c, err := net.Dial("unix", sock)
			if err != nil {
				continue
			}
			if i == 2 {
				c.Write([]byte("not yamux\r\n\x00\x01"))
			}
			if uc, ok := c.(*net.UnixConn); ok {
				uc.CloseWrite()
			}
			c.Close()
		}
	}
	// Let the runtime take the connections in before it is needed.
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(work, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.run("wait", "long")
	if got := h.run("receive", "long"); got != "first\nsecond\n" {
		t.Errorf("after the host was killed and its connection reset, the legacy job printed %q", got)
	}
	if js := h.jobs("long"); js[0].State != "Completed" {
		t.Errorf("the legacy job is %s: %s", js[0].State, js[0].StateReason)
	}
}

// One damaged byte in the host's journal, inside a running job's attach
// record (how to find its runtime again), is damage, not a torn tail: the
// next host does not run the job again while the first copy runs on; it
// fails the job, naming the damage, and ends the runtime it can no longer
// talk to, found by the launcher's own records.
func TestJournalDamageRunsNothingTwice(t *testing.T) {
	h := newHome(t)
	work := t.TempDir()
	runs := filepath.Join(work, "runs")
	h.run("start", "--name", "long", "--workdir", work, "--",
		`echo run >> runs; echo first; while [ ! -e go ]; do sleep 0.02; done; echo second`)
	waitOutput(t, h, "long", "first")
	if err := killHost(h.path, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The runtimes (their socket directories are in the home) and what
	// the job runs (in its directory).
	pids := related(work, filepath.Join(h.path, "run"))
	if len(pids) == 0 {
		t.Fatal("no runtime or job process is left running")
	}
	journal := filepath.Join(h.path, "journal")
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"sockDir":"`))
	if i < 0 {
		t.Fatalf("no attach record in the journal:\n%q", b)
	}
	b[i+len(`"sockDir":"`)+1] ^= 0x01
	if err := os.WriteFile(journal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	js := h.jobs("long")
	if js[0].State != "Failed" || !strings.Contains(js[0].StateReason, "journal") || !strings.Contains(js[0].StateReason, "damaged") {
		t.Errorf("the job whose attach record was damaged is %s: %s", js[0].State, js[0].StateReason)
	}
	for _, p := range pids {
		if !waitGone(p, 10*time.Second) {
			t.Errorf("process %d (a runtime, or the job's) the killed host left still runs", p)
		}
	}
	os.WriteFile(filepath.Join(work, "go"), nil, 0o644)
	h.run("wait", "*")
	if got, _ := os.ReadFile(runs); string(got) != "run\n" {
		t.Errorf("the job ran %d times", strings.Count(string(got), "run"))
	}
	// receive exits 1 for a failed job, after its records.
	if code, got, _ := h.exec("", "receive", "long"); code != 1 || !strings.HasPrefix(got, "first\n") || strings.Contains(got, "second") {
		t.Errorf("the failed job's records: exit %d, %q", code, got)
	}
}

// Runtimes stopped with SIGSTOP (a job can stop its own) do not hold up a
// host that starts after a kill -9: it answers at once, shows their jobs
// Blocked with the reason, reattaches the others, and takes each stopped
// one back once it runs again; a Blocked job can be stopped.
func TestFrozenRuntimesDoNotStallRecovery(t *testing.T) {
	h := newHome(t)
	work := t.TempDir()
	rtPid := map[string]int{}
	for _, name := range []string{"frozen1", "frozen2", "live"} {
		h.run("start", "--name", name, "--workdir", work, "--",
			`sh -c 'echo $PPID'; while [ ! -e go ]; do sleep 0.05; done; echo done`)
	}
	for _, name := range []string{"frozen1", "frozen2", "live"} {
		for deadline := time.Now().Add(20 * time.Second); rtPid[name] == 0; time.Sleep(20 * time.Millisecond) {
			if out := strings.TrimSpace(h.run("receive", "--keep", name)); out != "" {
				n, err := strconv.Atoi(out)
				if err != nil {
					t.Fatalf("%s printed %q", name, out)
				}
				rtPid[name] = n
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s printed nothing within 20s", name)
			}
		}
	}
	syscall.Kill(rtPid["frozen1"], syscall.SIGSTOP)
	syscall.Kill(rtPid["frozen2"], syscall.SIGSTOP)
	defer syscall.Kill(rtPid["frozen2"], syscall.SIGCONT)
	if err := killHost(h.path, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	states := map[string]jobView{}
	for _, j := range h.jobs() {
		states[j.Name] = j
	}
	for _, name := range []string{"frozen1", "frozen2"} {
		if j := states[name]; j.State != "Blocked" || !strings.Contains(j.StateReason, "SIGSTOP") {
			t.Errorf("%s, whose runtime is stopped, is %s: %s", name, j.State, j.StateReason)
		}
	}
	if j := states["live"]; j.State != "Running" {
		t.Errorf("live is %s: %s", j.State, j.StateReason)
	}
	h.run("stop", "frozen1")
	if js := h.jobs("frozen1"); js[0].State != "Stopped" {
		t.Errorf("the stopped Blocked job is %s: %s", js[0].State, js[0].StateReason)
	}
	if !waitGone(rtPid["frozen1"], 10*time.Second) {
		t.Errorf("the stopped Blocked job's runtime %d still runs", rtPid["frozen1"])
	}
	syscall.Kill(rtPid["frozen2"], syscall.SIGCONT)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if js := h.jobs("frozen2"); js[0].State == "Running" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("frozen2 was not taken back within 20s of running again: %s: %s", js[0].State, js[0].StateReason)
		}
	}
	os.WriteFile(filepath.Join(work, "go"), nil, 0o644)
	h.run("wait", "frozen2", "live")
	for _, name := range []string{"frozen2", "live"} {
		if got := h.run("receive", name); !strings.HasSuffix(got, "\ndone\n") {
			t.Errorf("%s printed %q", name, got)
		}
		if js := h.jobs(name); js[0].State != "Completed" {
			t.Errorf("%s is %s: %s", name, js[0].State, js[0].StateReason)
		}
	}
}

// A finished job's log with 16 bytes overwritten in the middle (a bad disk
// block, a stray write): receive prints the records before the damage,
// then exits 8 naming the file and the byte where the damaged record
// begins, and never prints the damaged bytes as the job's output. (Before
// records carried checksums, receive printed the damage and exited 0.)
func TestReceiveDamagedLog(t *testing.T) {
	h := newHome(t)
	const lines = 200000 // "line-0000001\n": 2.6 MB, some forty records
	h.run("start", "--name", "d", "--", "seq -f 'line-%07g' 1 200000")
	h.run("wait", "d")
	path := filepath.Join(h.path, "jobs", "1.log")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := len(b) / 2
	copy(b[at:], "DAMAGED-DAMAGED!")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := h.exec("", "receive", "d")
	if code != 8 {
		t.Errorf("receive of a damaged log: exit %d, want 8; stderr %q", code, stderr)
	}
	if strings.Contains(stdout, "DAMAGED") {
		t.Errorf("receive printed the damaged bytes as output")
	}
	got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if stdout == "" || len(got) >= lines {
		t.Errorf("receive printed %d lines, want those before the damage", len(got))
	}
	for i, l := range got {
		if want := fmt.Sprintf("line-%07d", i+1); l != want {
			t.Fatalf("line %d is %q, want %q", i+1, l, want)
		}
	}
	m := regexp.MustCompile(regexp.QuoteMeta(path) + ` has .* at byte (\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr does not name the file and the byte: %q", stderr)
	}
	if off, _ := strconv.Atoi(m[1]); off > at || off < at-(64<<10)-32 {
		t.Errorf("the damage is reported at byte %d; the bytes changed at %d, inside the record that begins there", off, at)
	}
}

// A host killed as it suspended a job (its runtime's session stopped, its
// row not yet saying Suspended) leaves a job the next host finds Blocked,
// its runtime stopped: resume continues it, and the host takes it back.
// Before, resume did nothing to a Blocked job, and the job stayed Blocked
// (and a wait on it waited) for ever.
func TestResumeBlockedAfterHostKilledMidSuspend(t *testing.T) {
	h, work, rt := startWaitingJob(t)
	// What suspend does first (the runtime before its job's processes),
	// and then the host is killed before it writes the row.
	syscall.Kill(rt, syscall.SIGSTOP)
	defer syscall.Kill(rt, syscall.SIGCONT)
	if err := killHost(h.path, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if js := h.jobs("s"); js[0].State != "Blocked" {
		t.Fatalf("s, its runtime stopped, is %s: %s", js[0].State, js[0].StateReason)
	}
	h.run("resume", "s")
	waitState(t, h, "s", "Running", "its resume")
	finishWaitingJob(t, h, work)
}

// A host killed as it resumed a job (its session continued, its row still
// saying Suspended) leaves a job that runs: the next host takes it back as
// Running, and its output comes. Before, it kept the job Suspended and
// unattached, its output held back, until another resume.
func TestResumedJobTakenBackAfterHostKilledMidResume(t *testing.T) {
	h, work, rt := startWaitingJob(t)
	h.run("suspend", "s")
	if js := h.jobs("s"); js[0].State != "Suspended" {
		t.Fatalf("s after suspend is %s: %s", js[0].State, js[0].StateReason)
	}
	// What resume does first (the session continued, the runtime last),
	// and then the host is killed before it writes the row.
	if _, err := process.ContinueSession(rt); err != nil {
		t.Fatal(err)
	}
	if err := killHost(h.path, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "s", "Running", "the host's restart")
	finishWaitingJob(t, h, work)
	if out := h.run("receive", "s"); !strings.Contains(out, "done") {
		t.Errorf("s's output after it was taken back: %q; want it to end with done", out)
	}
}

// A job that ends while no host runs ends when it ended, not when the next
// host took its runtime back and heard of it: its duration does not count
// the host's absence (the runtime tells the time with the end), on either
// protocol line.
func TestEndWhileNoHostKeepsItsTime(t *testing.T) {
	for _, line := range []string{"newest", LegacyVersion} {
		t.Run(line, func(t *testing.T) { endWhileNoHost(t, line) })
	}
}

func endWhileNoHost(t *testing.T, version string) {
	var h *home
	var work string
	if version == "newest" {
		h, work, _ = startWaitingJob(t)
	} else {
		h, work, _ = startWaitingJob(t, "--runtime-version", version)
	}
	if err := killHost(h.path, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	if err := os.WriteFile(filepath.Join(work, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the job ends; no host hears of it
	h.run("wait", "--timeout", "20", "s")
	js := h.jobs("s")
	if js[0].State != "Completed" || js[0].PSEndTime == nil {
		t.Fatalf("s is %s (%s), ended %v", js[0].State, js[0].StateReason, js[0].PSEndTime)
	}
	// It ends within moments of its release (it looks for the file every
	// 50 ms); the next host came 3 s later.
	if end := *js[0].PSEndTime; end.Sub(released) > 2*time.Second {
		t.Errorf("s, released at %v, ended at %v by its row: the time the next host heard of it", released.Format(time.StampMilli), end.Format(time.StampMilli))
	}
}

// startWaitingJob starts job s (with flags), which prints its runtime's pid
// and waits for a file go in work, and returns that pid once s has printed
// it.
func startWaitingJob(t *testing.T, flags ...string) (h *home, work string, rt int) {
	t.Helper()
	h = newHome(t)
	work = t.TempDir()
	args := append(append([]string{"start", "--name", "s", "--workdir", work}, flags...), "--",
		`sh -c 'echo $PPID'; while [ ! -e go ]; do sleep 0.05; done; echo done`)
	h.run(args...)
	for deadline := time.Now().Add(20 * time.Second); rt == 0; time.Sleep(20 * time.Millisecond) {
		if out := strings.TrimSpace(h.run("receive", "--keep", "s")); out != "" {
			n, err := strconv.Atoi(out)
			if err != nil {
				t.Fatalf("s printed %q", out)
			}
			rt = n
		}
		if time.Now().After(deadline) {
			t.Fatal("s printed nothing within 20s")
		}
	}
	return h, work, rt
}

// finishWaitingJob lets startWaitingJob's job end, and checks it completed.
func finishWaitingJob(t *testing.T, h *home, work string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(work, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.run("wait", "--timeout", "20", "s")
	if js := h.jobs("s"); js[0].State != "Completed" {
		t.Errorf("s is %s: %s", js[0].State, js[0].StateReason)
	}
}

// waitState waits up to 20 s for job name to be in state, after what.
func waitState(t *testing.T, h *home, name, state, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		js := h.jobs(name)
		if js[0].State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not %s within 20s of %s: %s: %s", name, state, what, js[0].State, js[0].StateReason)
		}
	}
}
