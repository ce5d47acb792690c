//go:build unix

package server

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

func TestMain(m *testing.M) {
	if os.Getenv(envPeerHelper) != "" {
		os.Exit(peerHelper())
	}
	os.Exit(m.Run())
}

// fakeHost opens a host that runs jobs with the fake launcher: the server's
// tests are about the socket, the framing and the rendering, not about
// runtime processes.
func fakeHost(t *testing.T) *hosttest.Host {
	t.Helper()
	opts, _ := hosttest.Fake(t)
	return hosttest.Open(t, "", opts)
}

func ids(js []*api.Job) []uint64 { return hosttest.IDs(js) }

func idsEqual(a []uint64, b ...uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func equalStrings(a, b []string) bool { return fmt.Sprintf("%q", a) == fmt.Sprintf("%q", b) }

// dialFrame connects to the server on sock, waiting up to 10 s for it to
// listen, and returns the connection and the first frame it sends.
func dialFrame(t *testing.T, sock string) (net.Conn, byte, []byte) {
	t.Helper()
	var c net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not listen within 10s: %v", err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, p, err := api.ReadFrame(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no frame from the server: %v", err)
	}
	return c, kind, p
}
