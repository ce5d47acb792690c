package main

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// The host exits once it has been idle at every look for the whole
// period; a busy look starts the count again.
func TestWatchIdle(t *testing.T) {
	const period, tick = 200 * time.Millisecond, 10 * time.Millisecond
	var looks atomic.Int64
	// Busy at every 5th look for the first 60 looks (600 ms): never idle
	// for 200 ms in a row. Idle from then on.
	idle := func() bool {
		n := looks.Add(1)
		return n > 60 || n%5 != 0
	}
	start := time.Now()
	exited := make(chan time.Duration, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchIdle(ctx, period, tick, idle, func() { exited <- time.Since(start) })
	select {
	case d := <-exited:
		if d < 600*time.Millisecond+period {
			t.Errorf("exited after %v, while busy now and then for 600 ms and then idle for %v", d, period)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after 10 s of idleness")
	}

	// Never while busy; and not after the context ends.
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		watchIdle(ctx2, period, tick, func() bool { return false }, func() { t.Error("exit while busy") })
		close(done)
	}()
	time.Sleep(3 * period)
	cancel2()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watchIdle did not return when its context ended")
	}
}

func TestIdleTick(t *testing.T) {
	for _, tt := range []struct{ period, want time.Duration }{
		{2 * time.Second, 500 * time.Millisecond},
		{10 * time.Minute, 5 * time.Second},
		{time.Millisecond, 50 * time.Millisecond},
	} {
		if got := idleTick(tt.period); got != tt.want {
			t.Errorf("idleTick(%v) = %v, want %v", tt.period, got, tt.want)
		}
	}
}

func TestEnvDuration(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{
		{"", time.Minute},
		{"2s", 2 * time.Second},
		{"0", 0},
		{"90", 90 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"soon", time.Minute},
		{"-5", time.Minute},
	} {
		t.Setenv("BGJOB_TEST_DURATION", tt.v)
		if got := envDuration("BGJOB_TEST_DURATION", time.Minute); got != tt.want {
			t.Errorf("BGJOB_TEST_DURATION=%q: %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestConnectedTo(t *testing.T) {
	const table = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 740080 /h/host.sock
0000000000000001: 00000003 00000000 00000000 0001 03 740082 /other/host.sock
0000000000000002: 00000003 00000000 00000000 0001 03 740083
0000000000000003: 00000003 00000000 00000000 0001 03 740084 /with space/host.sock
`
	for _, tt := range []struct {
		sock string
		want bool
	}{
		{"/h/host.sock", false}, // listening only
		{"/other/host.sock", true},
		{"/with space/host.sock", true},
		{"/none", false},
	} {
		if got := connectedTo(table, tt.sock); got != tt.want {
			t.Errorf("connectedTo(%s) = %v, want %v", tt.sock, got, tt.want)
		}
	}
}

// On Linux, an accepted connection shows until the server closes it.
func TestCallsOpen(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/unix")
	}
	dir, err := os.MkdirTemp("", "bgd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "host.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if callsOpen(sock) {
		t.Error("a call is open on a socket nobody connected to")
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if !callsOpen(sock) {
		t.Error("no call is open on an accepted connection")
	}
	c.Close()
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for callsOpen(sock) {
		if time.Now().After(deadline) {
			t.Fatal("a call is still open after both ends closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The host runs on half the processors, at least one.
func TestHostProcs(t *testing.T) {
	for _, c := range []struct {
		n    int
		env  string
		want int
	}{{1, "", 1}, {2, "", 1}, {3, "", 1}, {4, "", 2}, {64, "", 32}, {2, "2", 2}, {8, "8", 8}} {
		if got := hostProcs(c.n, c.env); got != c.want {
			t.Errorf("hostProcs(%d, $GOMAXPROCS=%q) = %d, want %d", c.n, c.env, got, c.want)
		}
	}
}

func TestEnvInt(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want int
	}{
		{"", 16},
		{"4", 4},
		{" 8 ", 8},
		{"abc", 16},
		{"12abc", 16}, // not 12: the value is refused whole
		{"0", 16},
		{"-3", 16},
	} {
		t.Setenv("BGJOB_TEST_INT", tt.v)
		if got := envInt("BGJOB_TEST_INT", 16); got != tt.want {
			t.Errorf("BGJOB_TEST_INT=%q: %d, want %d", tt.v, got, tt.want)
		}
	}
}
