package process

import (
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
		{"7 (x y) R 1 3", true, 'R', 3},
		{"7 (x) R 1", false, 0, 0},
		{"no parens", false, 0, 0},
		{"7 (x) RR 1 3", false, 0, 0},
		{"7 (x) R 1 notanumber", false, 0, 0},
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
