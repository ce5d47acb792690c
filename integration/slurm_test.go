//go:build unix

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Slurm location against a real Slurm: integration/slurm-setup.sh makes
// a single-node cluster (CI runs it as root before the tests); elsewhere
// these tests skip, saying so. The node shares every file with the host
// trivially (it is the same machine), which is what a cluster's shared
// filesystem provides.

// needSlurm skips t unless a Slurm cluster answers here. With
// BGJOB_REQUIRE_SLURM set (.ci/run sets it after making the cluster) a
// missing cluster fails instead: a skip there would pass the location
// untested.
func needSlurm(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-o", "%T").CombinedOutput()
	if err != nil || !regexpMatch(`(idle|mixed|alloc|planned|completing)`, string(out)) {
		msg := fmt.Sprintf("no Slurm cluster answers here (sinfo: %v %s); run integration/slurm-setup.sh as root to make one (CI does)", err, strings.TrimSpace(string(out)))
		if os.Getenv("BGJOB_REQUIRE_SLURM") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// slurmHome is a home whose Slurm jobs keep their files in it.
func slurmHome(t *testing.T) *home {
	h := newHome(t)
	h.env = append(h.env, "BGJOB_SLURM_DIR="+filepath.Join(h.dir, "slurm"))
	t.Cleanup(func() {
		// Nothing of this test left in Slurm's queue.
		out, _ := exec.Command("squeue", "-h", "-o", "%i %j").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], "bgjob-") && h.ownsSlurmJob(f[0]) {
				_ = exec.Command("scancel", f[0]).Run()
			}
		}
	})
	return h
}

// ownsSlurmJob reports whether Slurm job id writes into this home.
func (h *home) ownsSlurmJob(id string) bool {
	out, _ := exec.Command("scontrol", "show", "job", "-o", id).Output()
	return bytes.Contains(out, []byte(h.dir))
}

// startSlurm starts a job on Slurm and returns the parent.
func (h *home) startSlurm(args ...string) jobView {
	h.t.Helper()
	out := h.run(append([]string{"start", "--location", "slurm", "-o", "json"}, args...)...)
	var j jobView
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		h.t.Fatalf("start -o json: %v\n%s", err, out)
	}
	return j
}

func slurmNode(t *testing.T) string {
	out, err := exec.Command("sinfo", "-h", "-N", "-o", "%N").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(strings.Split(string(out), "\n")[0])
}

// A job with all seven streams comes back from Slurm as from a local job:
// a parent whose one child ran on the node and holds the records.
func TestSlurmStreams(t *testing.T) {
	needSlurm(t)
	t.Parallel()
	h := slurmHome(t)
	node := slurmNode(t)
	script := `echo out1; write-error bad; write-warning careful; write-verbose loud; write-debug deep
write-information --tags a fyi; write-progress --id 1 --percent 50 Working; write-output out2; echo "$BGJOB_JOB_NAME"`
	p := h.startSlurm("--name", "Seven", "--", script)
	if p.Location != "slurm" || len(p.ChildJobs) != 1 {
		t.Fatalf("the parent job: %+v", p)
	}
	h.run("wait", "Seven")
	js := h.jobs("--include-child-jobs", "Seven")
	if len(js) != 2 || js[0].ID != p.ID || js[1].ID != p.ChildJobs[0] {
		t.Fatalf("get --include-child-jobs: %+v", js)
	}
	parent, child := js[0], js[1]
	if parent.State != "Completed" || child.State != "Completed" || child.Location != node || parent.Location != node || child.Name != "Seven.0" {
		t.Errorf("after the job: parent %+v, child %+v; want both Completed on %s", parent, child, node)
	}
	// Plain get shows the parent only, as Get-Job does.
	if all := h.jobs(); len(all) != 1 || all[0].ID != p.ID {
		t.Errorf("get lists %+v, want the parent alone", all)
	}
	out := h.run("receive", "--verbose", "--debug", "-o", "json", "Seven")
	sevenStreams(t, "Slurm", out, child.ID)
	if text := h.run("receive", "--keep", "Seven.0"); text != "" {
		t.Errorf("records came back twice: %q", text)
	}
	h.run("remove", "Seven")
	if all := h.jobs("--include-child-jobs"); len(all) != 0 {
		t.Errorf("remove of the parent left %+v", all)
	}
}

// A job of two tasks is a parent with two child jobs, each received by
// itself, each naming its node.
//
// Not parallel: it wants both of the test cluster's CPUs at once, which the
// parallel tests (a job running into its time limit) would hold for a
// minute.
func TestSlurmChildJobs(t *testing.T) {
	needSlurm(t)
	h := slurmHome(t)
	node := slurmNode(t)
	p := h.startSlurm("--ntasks", "2", "--name", "Pair", "--", `echo "I am $BGJOB_JOB_NAME"`)
	if len(p.ChildJobs) != 2 {
		t.Fatalf("--ntasks 2 made %d child jobs: %+v", len(p.ChildJobs), p)
	}
	h.run("wait", "Pair")
	// Received by location (Receive-Job -Location): both tasks ran on the
	// one node.
	if got := h.run("receive", "--keep", "--location", node, "--prefix", "Pair"); got != "[Pair.0] I am Pair.0\n[Pair.1] I am Pair.1\n" {
		t.Errorf("receive --location %s --prefix Pair: %q", node, got)
	}
	if code, _, errOut := h.exec("", "receive", "--location", "nowhere", "Pair"); code != 3 || !strings.Contains(errOut, `none of the jobs is at "nowhere"`) {
		t.Errorf("receive --location nowhere: exit %d, %s", code, errOut)
	}
	for i, id := range p.ChildJobs {
		ids := strconv.FormatUint(id, 10)
		js := h.jobs(ids)
		if len(js) != 1 || js[0].State != "Completed" || js[0].Location != node {
			t.Errorf("child %d: %+v, want Completed on %s", i, js, node)
		}
		if got, want := h.run("receive", ids), fmt.Sprintf("I am Pair.%d\n", i); got != want {
			t.Errorf("child %d said %q, want %q", i, got, want)
		}
	}
	// The parent's Location names the node once; removing a child alone is
	// refused.
	if js := h.jobs("Pair"); js[0].Location != node {
		t.Errorf("the parent's Location is %q, want %q", js[0].Location, node)
	}
	if code, _, errOut := h.exec("", "remove", strconv.FormatUint(p.ChildJobs[0], 10)); code != 2 || !strings.Contains(errOut, "remove the parent") {
		t.Errorf("remove of a child: exit %d, %s", code, errOut)
	}
}

// stop ends a running Slurm job with its grace: it ends Stopped, and Slurm
// no longer runs it.
func TestSlurmStop(t *testing.T) {
	needSlurm(t)
	t.Parallel()
	h := slurmHome(t)
	p := h.startSlurm("--name", "Long", "--", `echo started; sleep 600`)
	waitOutput(t, h, strconv.FormatUint(p.ChildJobs[0], 10), "started")
	out := h.run("stop", "--passthru", "Long")
	if !regexpMatch(`Long +BackgroundJob +Stopped`, out) {
		t.Errorf("stop: %s", out)
	}
	js := h.jobs("--include-child-jobs", "Long")
	if len(js) != 2 || js[1].State != "Stopped" {
		t.Errorf("after stop: %+v", js)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("squeue", "-h", "--name=bgjob-"+p.InstanceID, "-o", "%T").Output()
		if strings.TrimSpace(string(out)) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Slurm still has the stopped job: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// What Slurm refuses is refused before a job exists, in Slurm's words; a
// job's own failure and Slurm's time limit end it Failed with the reason.
func TestSlurmFailures(t *testing.T) {
	needSlurm(t)
	t.Parallel()
	h := slurmHome(t)
	code, _, errOut := h.exec("", "start", "--location", "slurm", "--partition", "nosuch", "--", "echo x")
	if code != 10 || !strings.Contains(errOut, "Slurm says") || !strings.Contains(strings.ToLower(errOut), "invalid partition") {
		t.Errorf("a partition Slurm does not have: exit %d, %s", code, errOut)
	}
	code, _, errOut = h.exec("", "start", "--partition", "debug", "--", "echo x")
	if code != 2 || !strings.Contains(errOut, "go with --location slurm") {
		t.Errorf("--partition without --location: exit %d, %s", code, errOut)
	}
	code, _, errOut = h.exec("", "start", "--location", "mars", "--", "echo x")
	if code != 2 || !strings.Contains(errOut, `unknown --location "mars"`) {
		t.Errorf("an unknown location: exit %d, %s", code, errOut)
	}
	// More tasks or nodes than a job takes, each a child job: refused,
	// saying the limit and what to do instead.
	for _, flags := range [][]string{{"--ntasks", "1025"}, {"--nodes", "1025"}} {
		args := append(append([]string{"start", "--location", "slurm"}, flags...), "--", "echo x")
		code, _, errOut = h.exec("", args...)
		if code != 2 || !strings.Contains(errOut, flags[0]+" 1025: a job on Slurm has at most 1024 tasks or nodes") || !strings.Contains(errOut, "--foreach") {
			t.Errorf("%s 1025: exit %d, %s", flags[0], code, errOut)
		}
	}
	// Nodes or tasks bgjob would not have counted, or made no child job
	// for: refused too.
	for _, tt := range []struct{ flag, want string }{
		{"--nodelist=n[1-2000]", "give the nodes' names separated by commas"},
		{"--slurm-arg=--ntasks-per-node=2", "tasks per node would run tasks bgjob has no child job for"},
		{"--slurm-arg=-w" + slurmNode(t), "give bgjob's --nodelist"},
	} {
		code, _, errOut = h.exec("", "start", "--location", "slurm", tt.flag, "--", "echo x")
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, %s; want exit 2 saying %q", tt.flag, code, errOut, tt.want)
		}
	}
	if js := h.jobs(); len(js) != 0 {
		t.Errorf("refused starts made jobs: %+v", js)
	}

	h.startSlurm("--name", "Exit3", "--", "echo before; exit 3")
	h.startSlurm("--name", "Late", "--time", "1", "--", "echo started; sleep 600")
	h.run("wait", "Exit3")
	js := h.jobs("--include-child-jobs", "Exit3")
	if js[0].State != "Failed" || js[1].State != "Failed" || js[1].ExitCode == nil || *js[1].ExitCode != 3 {
		t.Errorf("exit 3: %+v", js)
	}
	if code, out, errOut := h.exec("", "receive", "Exit3"); code != 1 || out != "before\n" || !strings.Contains(errOut, "exit status 3") {
		t.Errorf("receive Exit3: exit %d, %q, %q", code, out, errOut)
	}
	// Slurm kills a job past its time limit (a minute, plus its grace).
	h.run("wait", "--timeout", "240", "Late")
	js = h.jobs("--include-child-jobs", "Late")
	if js[0].State != "Failed" || !strings.Contains(js[1].StateReason, "TIMEOUT") && !strings.Contains(js[1].StateReason, "time limit") {
		t.Errorf("past --time: %+v", js)
	}
	if code, out, errOut := h.exec("", "receive", "Late.0"); code != 1 || out != "started\n" || !strings.Contains(errOut, "TIMEOUT") {
		t.Errorf("receive Late.0: exit %d, %q, %q; want 1, what it said before it was killed, and why", code, out, errOut)
	} else {
		t.Logf("past --time: %s", strings.TrimSpace(errOut))
	}
}

// A host killed with -9 while a Slurm job runs: the job goes on in Slurm,
// the next host finds it by its Slurm job id, and every record arrives
// once, in order.
func TestSlurmHostKilled(t *testing.T) {
	needSlurm(t)
	t.Parallel()
	h := slurmHome(t)
	p := h.startSlurm("--name", "Count", "--", `i=1; while [ $i -le 300 ]; do echo $i; i=$((i+1)); sleep 0.01; done`)
	child := strconv.FormatUint(p.ChildJobs[0], 10)
	waitOutput(t, h, child, "5")
	if err := killHost(h.path, syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	h.run("wait", "Count")
	out := h.run("receive", "Count")
	var want strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if out != want.String() {
		t.Errorf("after the host was killed, the job's records are %d lines, want 1..300 once each:\n%s", strings.Count(out, "\n"), firstLines(out, 20))
	}
	if js := h.jobs("Count"); js[0].State != "Completed" {
		t.Errorf("Count: %+v", js)
	}
}

// A job Slurm requeues (scontrol requeue, a node failing under --requeue)
// is not over: Slurm queues it again and runs it from the start. bgjob
// shows it NotStarted while Slurm has it queued again, follows the new
// run to its end, and keeps what the first run wrote, with a warning where
// the new run begins.
func TestSlurmRequeued(t *testing.T) {
	needSlurm(t)
	t.Parallel()
	h := slurmHome(t)
	// The first run waits to be requeued; the second ends at once.
	count := filepath.Join(t.TempDir(), "runs")
	script := fmt.Sprintf(`n=$(( $(cat %[1]s 2>/dev/null || echo 0) + 1 )); echo $n > %[1]s; echo "run $n"; [ $n -ge 2 ] || sleep 600`, count)
	p := h.startSlurm("--name", "Again", "--slurm-arg=--requeue", "--", script)
	child := strconv.FormatUint(p.ChildJobs[0], 10)
	waitOutput(t, h, child, "run 1")
	out, err := exec.Command("squeue", "-h", "--name=bgjob-"+p.InstanceID, "-o", "%i").Output()
	id := strings.TrimSpace(string(out))
	if err != nil || id == "" {
		t.Fatalf("the job is not in Slurm's queue: %v %q", err, out)
	}
	if out, err := exec.Command("scontrol", "requeue", id).CombinedOutput(); err != nil {
		t.Fatalf("scontrol requeue %s: %v %s", id, err, out)
	}
	// Slurm has it queued again: NotStarted, saying why, never Failed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		js := h.jobs("--include-child-jobs", "Again")
		if len(js) != 2 {
			t.Fatalf("get --include-child-jobs Again: %+v", js)
		}
		if s := js[1].State; s == "Failed" || s == "Stopped" || s == "Completed" {
			t.Fatalf("the requeued job ended %s: %q; want it NotStarted until its next run", js[1].State, js[1].StateReason)
		}
		if js[1].State == "NotStarted" {
			if !strings.Contains(js[1].StateReason, "Slurm requeued the job") {
				t.Errorf("the requeued child's reason: %q", js[1].StateReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Slurm requeued the job, which bgjob still shows %+v", js)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Slurm holds a requeued job back a while (BeginTime) once it is
	// PENDING again: let it start now rather than in two minutes.
	for range 100 {
		if out, _ := exec.Command("squeue", "-h", "-j", id, "-o", "%T").Output(); strings.TrimSpace(string(out)) == "PENDING" {
			_ = exec.Command("scontrol", "update", "jobid="+id, "StartTime=now").Run()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.run("wait", "--timeout", "170", "Again")
	js := h.jobs("--include-child-jobs", "Again")
	if js[0].State != "Completed" || js[1].State != "Completed" {
		t.Errorf("after its second run: parent %+v, child %+v; want both Completed", js[0], js[1])
	}
	code, stdout, stderr := h.exec("", "receive", "Again")
	if code != 0 || stdout != "run 1\nrun 2\n" || !strings.Contains(stderr, "Slurm requeued the job: it runs again from the start (run 2") {
		t.Errorf("receive Again: exit %d, %q, %q; want both runs' output, and a warning where the second begins", code, stdout, stderr)
	}
}

// A host started inside a Slurm job (here, one Slurm requeued once, with
// four tasks) has that job's SLURM_ variables, which sbatch would copy into
// bgjob's job: its task took the outer job's requeue count for its own
// (a warning that Slurm requeued a job it never did) and srun the outer
// job's task count. Neither reaches the job.
func TestSlurmSubmitterEnv(t *testing.T) {
	needSlurm(t)
	t.Parallel()
	// Each alone: the task count would hide the requeue count (srun
	// refuses the step).
	for _, env := range [][]string{{"SLURM_RESTART_COUNT=1", "SLURM_JOB_ID=999999"}, {"SLURM_RESTART_COUNT=1", "SLURM_NTASKS=4"}} {
		h := slurmHome(t)
		h.env = append(h.env, env...)
		h.startSlurm("--name", "Inside", "--", `echo "restarts=${SLURM_RESTART_COUNT-none} ntasks=${SLURM_NTASKS-none}"`)
		h.run("wait", "--timeout", "120", "Inside")
		js := h.jobs("--include-child-jobs", "Inside")
		if len(js) != 2 || js[0].State != "Completed" || js[1].State != "Completed" {
			t.Errorf("with %q: the job: %+v; want a parent and one child, Completed", env, js)
		}
		code, stdout, stderr := h.exec("", "receive", "Inside")
		if code != 0 || stdout != "restarts=none ntasks=none\n" || strings.Contains(stderr, "requeued") {
			t.Errorf("with %q: receive Inside: exit %d, %q, %q; want the job to see neither variable and no requeue warning", env, code, stdout, stderr)
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Without Slurm's commands, the Slurm location says so: location list marks
// it unreachable with the reason, and a start is refused before a job
// exists. (Runs everywhere: it needs no cluster.)
func TestSlurmMissing(t *testing.T) {
	h := newHome(t)
	h.env = append(h.env, "BGJOB_SLURM_BIN="+t.TempDir())
	out := h.run("location", "list", "-o", "json")
	var ls []struct {
		Name      string
		Reachable bool
		Detail    string
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 3 {
		t.Fatalf("location list: %v\n%s", err, out)
	}
	if ls[0].Name != "localhost" || !ls[0].Reachable || ls[1].Name != "slurm" || ls[1].Reachable || !strings.Contains(ls[1].Detail, "sinfo is not in BGJOB_SLURM_BIN") {
		t.Errorf("location list without Slurm: %+v", ls)
	}
	code, _, errOut := h.exec("", "start", "--location", "slurm", "--", "echo x")
	if code != 10 || !strings.Contains(errOut, "the Slurm commands are not installed here: sbatch is not in BGJOB_SLURM_BIN") {
		t.Errorf("start --location slurm without Slurm: exit %d, %s", code, errOut)
	}
	if js := h.jobs(); len(js) != 0 {
		t.Errorf("a refused start made jobs: %+v", js)
	}
}
