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
	// The fields after the session up to the start time (field 22).
	const mid = " 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 "
	tests := []struct {
		in    string
		ok    bool
		state byte
		pgrp  int
		start uint64
	}{
		{"12 (sleep) S 1 12 12" + mid + "8812 5656576 221", true, 'S', 12, 8812},
		{"7 (a) b (c)) Z 1 99 7" + mid + "1 0 0", true, 'Z', 99, 1},
		{"7 (x y) R 1 3 3" + mid + "42 0", true, 'R', 3, 42},
		{"7 (x) R 1 3 3 0 -1", false, 0, 0, 0},
		{"7 (x) R 1 3", false, 0, 0, 0},
		{"no parens", false, 0, 0, 0},
		{"7 (x) RR 1 3 3" + mid + "42", false, 0, 0, 0},
		{"7 (x) R 1 notanumber 3" + mid + "42", false, 0, 0, 0},
		{"7 (x) R 1 3 3" + mid + "-42", false, 0, 0, 0},
	}
	for _, tt := range tests {
		s, ok := parseStat([]byte(tt.in))
		if ok != tt.ok || s.state != tt.state || s.pgrp != tt.pgrp || s.start != tt.start {
			t.Errorf("parseStat(%q) = %c %d %d %v, want %c %d %d %v", tt.in, s.state, s.pgrp, s.start, ok, tt.state, tt.pgrp, tt.start, tt.ok)
		}
	}
}

// TestStartTime: a process's start time is stable while it lives, differs
// from another process's started later, and is gone with it.
func TestStartTime(t *testing.T) {
	a := exec.Command("sleep", "30")
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t1, ok := StartTime(a.Process.Pid)
	if !ok || t1 == 0 {
		t.Fatalf("StartTime(%d) = %d, %v", a.Process.Pid, t1, ok)
	}
	if again, _ := StartTime(a.Process.Pid); again != t1 {
		t.Fatalf("start time changed: %d then %d", t1, again)
	}
	self, _ := StartTime(os.Getpid())
	if self > t1 {
		t.Fatalf("this process (start %d) began after its child (start %d)", self, t1)
	}
	a.Process.Kill()
	a.Wait()
	if st, ok := StartTime(a.Process.Pid); ok {
		t.Fatalf("StartTime of an ended process = %d, true", st)
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
