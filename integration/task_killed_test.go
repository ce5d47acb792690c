//go:build linux

package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The task of a job over SSH (bgjobd remote-task, on the computer) killed
// with -9: its runtime dies with it, and the job's processes are ended by
// the follower that finds the task gone; the child ends Failed, saying the
// task was killed. The runtime and the job used to run on with nobody
// following them or able to stop them.
func TestSSHTaskKilled(t *testing.T) {
	t.Parallel()
	h := sshHome(t)
	marker, kids := h.startSleepingSSH("Killed", "bgjt-a")
	k := kids[0]
	task := remoteTaskPid(t, k.InstanceID)
	if task == 0 || !alive(task) {
		t.Fatalf("no task running for %s (pid %d)", k.InstanceID, task)
	}
	killTaskAndCheck(t, task, marker+"-"+k.Name)
	h.run("wait", "Killed")
	js := h.jobs("--include-child-jobs", "Killed")
	if js[1].State != "Failed" || !strings.Contains(js[1].StateReason, "ended without recording how the job ended") {
		t.Errorf("the child whose task was killed: %+v, want Failed, the task killed", js[1])
	}
}

// The task of a job on Slurm (bgjobd slurm-task, in the job's step)
// killed with -9: its runtime dies with it. (The job's processes are
// Slurm's to end with the step; the runtime left its process tree, so
// Slurm could not find it.)
func TestSlurmTaskKilled(t *testing.T) {
	needSlurm(t)
	t.Parallel()
	h := slurmHome(t)
	p := h.startSlurm("--name", "Killed", "--", `echo started; sleep 600`)
	waitOutput(t, h, strconv.FormatUint(p.ChildJobs[0], 10), "started")
	var task int
	for _, pid := range related(h.dir) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.HasPrefix(string(b), bins.Bgjobd+"\x00slurm-task\x00") {
			task = pid
		}
	}
	if task == 0 {
		t.Fatal("no bgjobd slurm-task process for the job")
	}
	killTaskAndCheck(t, task, "")
	h.run("wait", "Killed")
	if js := h.jobs("--include-child-jobs", "Killed"); js[1].State != "Failed" {
		t.Errorf("the child whose task was killed: %+v, want Failed", js[1])
	}
}

// killTaskAndCheck kills task (-9) and waits for its runtime (its child)
// to end with it, and, if marker is given, the job's processes (those
// whose command line names marker).
func killTaskAndCheck(t *testing.T, task int, marker string) {
	t.Helper()
	kids := childrenOf(task)
	if len(kids) != 1 {
		t.Fatalf("the task %d has children %v, want one: its runtime", task, kids)
	}
	rt := kids[0]
	// What a failed check leaves: the job's processes, by the marker
	// their command lines name (the runtime's session would be found by
	// its pid, which another test's runtime may have by then).
	t.Cleanup(func() {
		if marker == "" {
			return
		}
		for _, pid := range related(marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if marker != "" && len(related(marker)) == 0 {
		t.Fatalf("the job's processes are not running (none names %s)", marker)
	}
	if err := syscall.Kill(task, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); alive(rt); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the runtime %d still runs 30 s after its task %d was killed", rt, task)
		}
	}
	if marker == "" {
		return
	}
	for deadline := time.Now().Add(30 * time.Second); len(related(marker)) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job's processes %v still run 30 s after its task was killed", related(marker))
		}
	}
}
