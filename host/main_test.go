package host_test

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// Most tests run jobs with the fake launcher (hosttest.Fake): the host's
// state machine, exactly, without processes. The tests in plugin_test.go
// use the real shell runtime, built once here, for what only a real process
// shows: process groups, signals, go-plugin's reattach, spares.
var shell *hosttest.Shell

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// A job state change the table does not list panics the host.
	os.Setenv("BGJOB_STRICT_STATES", "1")
	tmp, err := os.MkdirTemp("", "bghost")
	if err != nil {
		fmt.Fprintln(os.Stderr, "host test:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if shell, err = hosttest.BuildShell(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "host test:", err)
		return 1
	}
	return m.Run()
}

// fake opens a host with the fake launcher on a new home.
func fake(t *testing.T, mods ...func(*host.Options)) *hosttest.Host {
	t.Helper()
	opts, _ := hosttest.Fake(t)
	for _, m := range mods {
		m(&opts)
	}
	return hosttest.Open(t, "", opts)
}

func maxRunning(n int) func(*host.Options) { return func(o *host.Options) { o.MaxRunning = n } }

var named, inDir = hosttest.Named, hosttest.InDir

// wantKind fails unless err is of kind.
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want one of kind %q", what, err, kind)
	}
}

func ids(js []*api.Job) []uint64 { return hosttest.IDs(js) }

func idsEqual(a []uint64, b ...uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func equalStrings(a, b []string) bool { return fmt.Sprintf("%q", a) == fmt.Sprintf("%q", b) }

// fakeWithLauncher is fake, also returning the launcher.
func fakeWithLauncher(t *testing.T, mods ...func(*host.Options)) (*hosttest.Host, *fakert.Launcher) {
	t.Helper()
	opts, l := hosttest.Fake(t)
	for _, m := range mods {
		m(&opts)
	}
	return hosttest.Open(t, "", opts), l
}
