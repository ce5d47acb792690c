package launch

import (
	"os/exec"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk/process"
)

// A runtime is killed by the pid and start time the host recorded: a pid
// whose process started at another time is someone else's now (the runtime
// exited, and a reattached runtime is not the host's child to be reaped),
// and is left alone.
func TestKillPidChecksStartTime(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	start, ok := process.StartTime(pid)
	if !ok {
		t.Skip("no start time from /proc here")
	}
	killPid(pid, start+1) // recorded for another process that had the pid
	select {
	case <-exited:
		t.Fatal("a process whose start time is not the one recorded was killed")
	case <-time.After(200 * time.Millisecond):
	}
	killPid(pid, start)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the process recorded (pid and start time) was not killed")
	}
}
