package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

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

// waitJobState waits until job sel is in state want.
func waitJobState(t *testing.T, th *hosttest.Host, sel string, want api.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := th.Job(sel)
		if j.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s (%s), want %s", sel, j.State, j.StateReason, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A job stopped while its runtime is still starting ends at once; its
// runner learns of the stop only when the runtime has started. A restart
// in place in between waits for that, so that the old start does not go
// on with the restarted job: the job runs once, in one runtime.
func TestRestartInPlaceWhileTheStoppedStartLaunches(t *testing.T) {
	th, l := fakeWithLauncher(t)
	ctx := context.Background()
	l.HoldLaunches("launch")
	j := th.Start("echo hi; sleep", named("A"))
	if err := l.AwaitHeld(1); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Stop(ctx, []string{"A"}); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	go func() {
		_, err := th.Restart(ctx, []string{"A"}, &api.RestartRequest{InPlace: true})
		restarted <- err
	}()
	time.Sleep(50 * time.Millisecond) // the restart waits for the old start
	l.Open("launch")
	if err := <-restarted; err != nil {
		t.Fatalf("restart --in-place: %v", err)
	}
	th.WaitOutput("A", "hi")
	time.Sleep(100 * time.Millisecond) // a second start would be on its way
	if n := l.Runs(j.ID); n != 1 {
		t.Errorf("the restarted job was started %d times in its runtimes, want once", n)
	}
	if n := l.Alive(); n != 1 {
		t.Errorf("%d runtime processes alive, want the restarted job's only", n)
	}
	if _, err := th.Stop(ctx, []string{"A"}); err != nil {
		t.Fatal(err)
	}
}
