package task

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk/process"
)

// A task killed (-9) leaves its job's processes in its runtime's session:
// the follower that finds the task gone ends them, and the runtime too if
// it is still there (it dies with the task where the launcher could tie
// it, launch.Options.EndWithLauncher), before it reports the task lost.
// Before, they ran on with nobody to stop them.
func TestFollowLostEndsWhatTheRuntimeLeft(t *testing.T) {
	here, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, script, node string
	}{
		// The runtime died with the task; a process of the job is left.
		{"runtime gone", "sleep 3600 & echo $!", here},
		// The runtime is still there (not tied to the task).
		{"runtime alive", "sleep 3600 & echo $!; wait", here},
		// The task ran on another machine sharing this home (a
		// computer name that leads to several): the pids here are not
		// its, so it is not taken for lost (the follower reads on until
		// its end comes) and nothing is killed.
		{"another machine", "sleep 3600 & echo $!; wait", here + "-elsewhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, SpecPath(dir), "{}")
			writeFile(t, StartPath(dir, 0), `{"node":"`+tc.node+`"}`)
			// The task, killed: a pid above the kernel's highest
			// (pid_max is at most 2^22), which no process can have,
			// where a reaped one could be reused meanwhile.
			writeFile(t, PidPath(dir, 0), strconv.Itoa(1<<22+1))
			// The runtime: a session's leader, as the launcher starts it.
			rt := exec.Command("sh", "-c", tc.script)
			rt.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			out, err := rt.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rt.Process.Kill(); _ = rt.Wait() })
			start, _ := process.StartTime(rt.Process.Pid)
			b, _ := json.Marshal(RuntimeProc{Pid: rt.Process.Pid, Start: start})
			writeFile(t, runtimeProcPath(dir, 0), string(b))
			var line [32]byte
			n, _ := out.Read(line[:])
			job, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
			if err != nil {
				t.Fatalf("the job's pid: %q", line[:n])
			}
			t.Cleanup(func() { _ = syscall.Kill(job, syscall.SIGKILL) })
			if tc.name == "runtime gone" {
				_ = rt.Wait()
			}
			if tc.node != here {
				// Its end comes well after a follower here would have
				// taken it for lost (five polls), and is what ends the
				// following.
				time.AfterFunc(20*followPoll, func() { writeFile(t, DonePath(dir, 0), `{"state":"Completed"}`) })
				if kinds, _ := frames(t, dir, 0, false); kinds != "SD" {
					t.Fatalf("frames %q, want S, then D: the task followed to its end, not lost", kinds)
				}
				if !process.Alive(job) || !process.Alive(rt.Process.Pid) {
					t.Fatalf("a follower on %s killed the processes of a task on %s", here, tc.node)
				}
				return
			}
			kinds, _ := frames(t, dir, 0, false)
			if kinds != "SX" {
				t.Fatalf("frames %q, want S, then X: the task lost", kinds)
			}
			for deadline := time.Now().Add(10 * time.Second); process.Alive(job) || process.Alive(rt.Process.Pid); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("after the task was reported lost: the job's process %d alive %v, the runtime %d alive %v; want both gone",
						job, process.Alive(job), rt.Process.Pid, process.Alive(rt.Process.Pid))
				}
			}
		})
	}
}
