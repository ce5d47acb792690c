//go:build unix

package shell_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
	"github.com/bgjob/bgjob/sdk/sdktest"
	"golang.org/x/sys/unix"
)

// sleeper is a command that writes its pid to NAME.pid in the job's workdir
// and sleeps; it is a direct child of the runtime, so its pid is real (the
// interpreter's $! is not).
func sleeper(name string) string {
	return fmt.Sprintf(`sh -c 'echo $$ > %s.pid; exec sleep 1000'`, name)
}

// gone reports whether pid no longer runs. A zombie counts as gone: an
// orphan stays one under a pid 1 that does not reap.
func gone(pid int) bool { return !process.Alive(pid) }

func readPids(t *testing.T, dir string, names []string) ([]int, bool) {
	t.Helper()
	var pids []int
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n+".pid"))
		if err != nil {
			return nil, false
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, false // written half
		}
		pids = append(pids, pid)
	}
	return pids, true
}

func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Now().After(deadline) {
				t.Errorf("process %d still runs", pid)
				_ = unix.Kill(pid, unix.SIGKILL)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		name   string
		script string
		pids   []string
	}{
		{
			name:   "background and foreground",
			script: sleeper("a") + " & write-output started; " + sleeper("b") + "; wait",
			pids:   []string{"a", "b"},
		},
		{name: "background and wait", script: sleeper("a") + " & write-output started; wait", pids: []string{"a"}},
		{name: "pipeline", script: "write-output started; " + sleeper("a") + " | cat", pids: []string{"a"}},
		{
			name:   "grandchild",
			script: `write-output started; sh -c 'sleep 1000 & echo $! > a.pid; wait'`,
			pids:   []string{"a"},
		},
		{
			name:   "ignores SIGTERM",
			script: `write-output started; sh -c 'trap "" TERM; echo $$ > a.pid; exec sleep 1000'`,
			pids:   []string{"a"},
		},
		{name: "shell loop", script: `write-output started; touch a.pid; while :; do :; done`},
		{name: "read from stdin", script: `write-output started; read x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			job := &sdk.Job{Script: tt.script, Workdir: dir, Env: env()}
			if tt.name == "read from stdin" {
				// A pipe that never ends: the input is bigger
				// than what is read.
				job.Input = bytes.Repeat([]byte("x"), 1<<20)
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			e := sdktest.NewEmitter()
			var res sdk.Result
			done := make(chan struct{})
			go func() {
				defer close(done)
				res = shell.New().Run(ctx, job, e)
				e.Flush()
			}()

			var pids []int
			for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
				var ok bool
				pids, ok = readPids(t, dir, tt.pids)
				if ok && slices.Contains(e.Stream(sdk.Output), "started") {
					break
				}
				if time.Since(start) > 10*time.Second {
					cancel(nil)
					t.Fatalf("the job did not start: output %q, errors %q", e.Stream(sdk.Output), e.Stream(sdk.Error))
				}
			}
			time.Sleep(50 * time.Millisecond) // let the foreground command settle

			stopped := time.Now()
			cancel(&sdk.StopRequest{Grace: 200 * time.Millisecond})
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the job did not stop within 10 s")
			}
			took := time.Since(stopped)
			if res != (sdk.Result{State: sdk.Stopped, Reason: "stopped"}) {
				t.Errorf("result %+v", res)
			}
			// A bound, not a benchmark: grace, then SIGKILL.
			if took > 3*time.Second {
				t.Errorf("stopping took %v", took)
			}
			waitGone(t, pids)
		})
	}
}

func TestStopWithoutStopRequest(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(dir, "a.pid")); err == nil {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	e, res := sdktest.Run(ctx, shell.New(shell.WithGrace(100*time.Millisecond)), &sdk.Job{Script: sleeper("a"), Workdir: dir, Env: env()})
	if res != (sdk.Result{State: sdk.Stopped, Reason: "stopped"}) {
		t.Errorf("result %+v, errors %q", res, e.Stream(sdk.Error))
	}
	pids, _ := readPids(t, dir, []string{"a"})
	waitGone(t, pids)
}

// A script that ends leaves nothing running: background work is stopped
// with the grace period, and the job completes.
func TestEndStopsBackground(t *testing.T) {
	dir := t.TempDir()
	script := sleeper("a") + ` &
sh -c 'sleep 1000 >/dev/null 2>&1 & echo $! > b.pid'
while [ ! -s a.pid ]; do sleep 0.01; done
echo done`
	start := time.Now()
	e, res := run(t, shell.New(shell.WithGrace(300*time.Millisecond)), &sdk.Job{Script: script, Workdir: dir})
	if res != sdk.Success() {
		t.Fatalf("result %+v, errors %q", res, e.Stream(sdk.Error))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the job took %v", took)
	}
	if out := e.Stream(sdk.Output); !slices.Equal(out, []string{"done"}) {
		t.Errorf("output %q", out)
	}
	pids, ok := readPids(t, dir, []string{"a", "b"})
	if !ok {
		t.Fatal("no pid files")
	}
	waitGone(t, pids)
}

// Output of a background command that finishes before the script's end is
// the job's.
func TestBackgroundOutput(t *testing.T) {
	e, res := run(t, shell.New(), &sdk.Job{Script: `sh -c 'sleep 0.1; echo late' & echo early; wait`})
	if res != sdk.Success() {
		t.Fatalf("result %+v", res)
	}
	if out := e.Stream(sdk.Output); !slices.Equal(out, []string{"early", "late"}) {
		t.Errorf("output %q", out)
	}
}
