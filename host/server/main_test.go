//go:build unix

package server

import (
	"fmt"
	"os"
	"testing"

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
