//go:build linux

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// A user of a system host holds at most maxCallsPerUser connections open
// at once, and running out of descriptors does not end the host: a user's
// idle connections took every descriptor of root's host, whose accept
// then failed with "too many open files" and the host exited, for every
// user (found in review, reproduced as an unprivileged user).
func TestSystemHostBoundsCalls(t *testing.T) {
	th := fakeHost(t)
	sock := filepath.Join(th.Dir, "x.sock")
	var uid atomic.Int64 // the caller the next connection comes from
	uid.Store(4242)
	s := &server{h: th.Host, log: th.Host.Logger(), system: true,
		peer: func(*net.UnixConn) (api.Cred, error) { u := int(uid.Load()); return api.Cred{UID: u, GID: u}, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx, sock) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	dial := func() (net.Conn, byte, []byte) { t.Helper(); return dialFrame(t, sock) }
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range maxCallsPerUser {
		c, kind, p := dial()
		held = append(held, c)
		if kind != api.FrameHello {
			t.Fatalf("frame %c %q after %d connections, want hello", kind, p, len(held)-1)
		}
	}
	c, kind, p := dial()
	c.Close()
	var res api.Result
	if kind != api.FrameResult || json.Unmarshal(p, &res) != nil || res.Code != api.ExitUnavailable || !strings.Contains(res.Error, "calls open") {
		t.Fatalf("connection %d of one user: frame %c %q, want a refusal", maxCallsPerUser+1, kind, p)
	}
	// Another user is served meanwhile, and one connection closed makes
	// room again.
	uid.Store(4343)
	c, kind, _ = dial()
	c.Close()
	if kind != api.FrameHello {
		t.Fatalf("another user refused: frame %c", kind)
	}
	uid.Store(4242)
	held[0].Close()
	held = held[1:]
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, kind, _ := dial()
		c.Close()
		if kind == api.FrameHello {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection made no room for another")
		}
	}

	// Every connection closed, and the host's ends with them, before
	// the descriptors are counted below.
	for _, c := range held {
		c.Close()
	}
	held = nil
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.callsMu.Lock()
		open := len(s.calls)
		s.callsMu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the host's ends of closed connections are still counted")
		}
	}

	// Out of descriptors: accept fails, and the host goes on once some
	// are closed. Every descriptor below a low limit is taken but one,
	// which the caller's end takes: the host's end finds none.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			syscall.Close(fd)
		}
	}()
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	if len(fillers) < 2 {
		t.Fatalf("only %d descriptors free below %d: the test cannot run out of them", len(fillers), low.Cur)
	}
	syscall.Close(fillers[0])
	fillers = fillers[1:]
	pending, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	time.Sleep(100 * time.Millisecond) // accept fails meanwhile
	select {
	case err := <-served:
		served <- err
		t.Fatalf("the host stopped serving when out of descriptors: %v", err)
	default:
	}
	for _, fd := range fillers {
		syscall.Close(fd)
	}
	fillers = nil
	pending.SetReadDeadline(time.Now().Add(10 * time.Second))
	if kind, _, err := api.ReadFrame(bufio.NewReader(pending), nil); err != nil || kind != api.FrameHello {
		t.Fatalf("the call waiting for a descriptor: frame %c, %v", kind, err)
	}
}
