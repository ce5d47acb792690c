package process

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in    string
		ok    bool
		state byte
		pgrp  int
	}{
		{"12 (sleep) S 1 12 12 0 -1", true, 'S', 12},
		{"7 (a) b (c)) Z 1 99 7", true, 'Z', 99},
		{"7 (x y) R 1 3 3", true, 'R', 3},
		{"7 (x) R 1 3", false, 0, 0},
		{"no parens", false, 0, 0},
		{"7 (x) RR 1 3 3", false, 0, 0},
		{"7 (x) R 1 notanumber 3", false, 0, 0},
	}
	for _, tt := range tests {
		s, ok := parseStat([]byte(tt.in))
		if ok != tt.ok || s.state != tt.state || s.pgrp != tt.pgrp {
			t.Errorf("parseStat(%q) = %c %d %v, want %c %d %v", tt.in, s.state, s.pgrp, ok, tt.state, tt.pgrp, tt.ok)
		}
	}
}

func TestAliveAndGroup(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	if st, ok := State(os.Getpid()); !ok || st == 'Z' {
		t.Fatalf("own state %c %v", st, ok)
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) || !GroupAlive(pid) {
		t.Fatalf("a sleeping child: alive %v, group alive %v", Alive(pid), GroupAlive(pid))
	}
	cmd.Process.Kill()
	// Not reaped yet: a zombie, which counts as ended.
	deadline := time.Now().Add(10 * time.Second)
	for st, _ := State(pid); st != 'Z'; st, _ = State(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the killed child is in state %c, not a zombie, after 10s", st)
		}
		time.Sleep(time.Millisecond)
	}
	if Alive(pid) || GroupAlive(pid) {
		t.Errorf("a zombie counts as alive: %v, group %v", Alive(pid), GroupAlive(pid))
	}
	cmd.Wait()
	if _, ok := State(pid); ok {
		t.Error("a reaped process still has a state")
	}
}

// A session's members die with KillSession once their leader is gone, in
// whatever process group they are; a session whose leader lives is left.
func TestKillSession(t *testing.T) {
	// sh leads a new session, starts sleep in a group of its own, prints
	// its pid and exits: sleep is left in the session without its leader.
	cmd := exec.Command("sh", "-c", "set -m; (trap '' TERM; exec sleep 60 >/dev/null 2>&1) & echo $!")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var child int
	if _, err := fmt.Sscan(string(out), &child); err != nil || !Alive(child) {
		t.Fatalf("the session's child %q: %v", out, err)
	}
	defer syscall.Kill(child, syscall.SIGKILL)
	sid := cmd.Process.Pid
	if n := KillSession(os.Getpid()); n != 0 {
		t.Errorf("KillSession of a session whose leader lives signalled %d", n)
	}
	if n := KillSession(sid); n != 1 {
		t.Errorf("KillSession signalled %d processes, want the 1 left", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for Alive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d of the session still runs", child)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SuspendSession stops every process of a session, whatever its process
// group, and ContinueSession lets them all run again.
func TestSuspendSession(t *testing.T) {
	// A session leader whose child leads a process group of its own, as a
	// runtime and a job's command do.
	cmd := exec.Command("sh", "-c", "set -m; sleep 60 & echo $! ; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	var child int
	if _, err := fmt.Fscan(out, &child); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	leader := cmd.Process.Pid
	waitState := func(pid int, want bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			st, _ := State(pid)
			if (st == 'T') == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d in state %c; stopped: want %v", pid, st, want)
			}
		}
	}
	n, err := SuspendSession(leader)
	if err != nil || n != 2 {
		t.Fatalf("SuspendSession = %d, %v; want 2 processes", n, err)
	}
	waitState(leader, true)
	waitState(child, true)
	n, err = ContinueSession(leader)
	if err != nil || n != 2 {
		t.Fatalf("ContinueSession = %d, %v; want 2 processes", n, err)
	}
	waitState(leader, false)
	waitState(child, false)
	if _, err := SuspendSession(1); err == nil {
		t.Error("SuspendSession(1) did not refuse")
	}
}
