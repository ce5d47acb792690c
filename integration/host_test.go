//go:build unix

package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// home is a fresh BGJOB_HOME for a Go test, with the shared catalog; its
// host and everything it started are cleaned up when the test ends.
type home struct {
	t    *testing.T
	dir  string // the directory MkdirTemp made; the home is dir/h
	path string
	env  []string
	// cred, if set, is the user the CLI runs as (a real user's host: the
	// SSH location's tests).
	cred *syscall.Credential
}

func newHome(t *testing.T) *home {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgj")
	if err != nil {
		t.Fatal(err)
	}
	h := &home{t: t, dir: dir, path: filepath.Join(dir, "h")}
	h.env = append(os.Environ(),
		"BGJOB_HOME="+h.path,
		"BGJOB_RUNTIMES="+catalogDir,
		// Its own definitions: none, unless a test writes some.
		"BGJOB_DEFINITIONS="+filepath.Join(dir, "definitions"),
		"PATH="+bins.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	t.Cleanup(func() {
		cleanupHome(h.env, h.path, []string{dir}, t.Logf)
		os.RemoveAll(dir)
	})
	return h
}

// cmd returns a bgjob command for this home, run in its directory.
func (h *home) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, bins.Bgjob, args...)
	c.Env = h.env
	c.Dir = h.dir
	c.WaitDelay = 5 * time.Second
	if h.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: h.cred, Setsid: true}
	}
	return c
}

// run runs bgjob with args and returns its stdout; any failure ends the test.
func (h *home) run(args ...string) string {
	h.t.Helper()
	code, stdout, stderr := h.exec("", args...)
	if code != 0 {
		h.t.Fatalf("bgjob %s: exit status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// exec runs bgjob with stdin and args and returns its exit code, stdout
// and stderr; only a failure to run it at all ends the test.
func (h *home) exec(stdin string, args ...string) (int, string, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := h.cmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		h.t.Fatalf("bgjob %s: %v", strings.Join(args, " "), err)
	}
	return 0, stdout.String(), stderr.String()
}

// jobs is `bgjob get -o json` for sel.
func (h *home) jobs(sel ...string) []jobView {
	h.t.Helper()
	out := h.run(append([]string{"get", "-o", "json"}, sel...)...)
	var js []jobView
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		h.t.Fatalf("bgjob get -o json: %v\n%s", err, out)
	}
	return js
}

// jobView is what these tests read of a job's JSON.
type jobView struct {
	ID          uint64   `json:"Id"`
	Name        string   `json:"Name"`
	InstanceID  string   `json:"InstanceId"`
	State       string   `json:"State"`
	StateReason string   `json:"StateReason"`
	HasMoreData bool     `json:"HasMoreData"`
	ExitCode    *int     `json:"ExitCode"`
	Location    string   `json:"Location"`
	ChildJobs   []uint64 `json:"ChildJobs"`
	PSEndTime   *time.Time
}

func regexpMatch(pattern, s string) bool {
	return regexp.MustCompile(pattern).MatchString(s)
}

// vmHWM returns the peak resident set size of pid, in bytes.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fs := strings.Fields(v)
			if len(fs) != 2 || fs[1] != "kB" {
				return 0, fmt.Errorf("cannot read VmHWM line %q", sc.Text())
			}
			kb, err := strconv.ParseInt(fs[0], 10, 64)
			return kb << 10, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// TestHostMemoryBounded: a job prints 1 GiB; the host keeps it on disk, not
// in memory, and hands every byte back.
func TestHostMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("prints and reads back 1 GiB; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the host's peak memory from /proc/PID/status")
	}
	const size = 1 << 30
	const bound = 256 << 20
	h := newHome(t)

	h.run("start", "--name", "big", "--", fmt.Sprintf("head -c %d /dev/zero", size))
	out := h.run("wait", "big")
	if !regexpMatch(`(?m)^1 +big +BackgroundJob +Completed +True `, out) {
		t.Fatalf("bgjob wait big: the job did not complete with data to receive:\n%s", out)
	}

	// Receive through a pipe, counting the bytes as they come.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := h.cmd(ctx, "receive", "big")
	pipe, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	type counted struct {
		n       int64
		nonZero int64
		err     error
	}
	done := make(chan counted, 1)
	go func() {
		var res counted
		buf := make([]byte, 1<<20)
		for {
			n, err := pipe.Read(buf)
			for _, b := range buf[:n] {
				if b != 0 {
					res.nonZero++
				}
			}
			res.n += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				res.err = err
				break
			}
		}
		done <- res
	}()
	res := <-done
	if err := c.Wait(); err != nil {
		t.Fatalf("bgjob receive big: %v\n%s", err, stderr.String())
	}
	if res.err != nil {
		t.Fatalf("reading bgjob receive's output: %v", res.err)
	}
	if res.n != size {
		t.Errorf("bgjob receive big printed %d bytes, want exactly %d", res.n, size)
	}
	if res.nonZero != 0 {
		t.Errorf("bgjob receive big printed %d bytes that are not the zeros the job wrote", res.nonZero)
	}
	if stderr.Len() > 0 {
		t.Errorf("bgjob receive big wrote to stderr:\n%s", stderr.String())
	}

	js := h.jobs("big")
	if len(js) != 1 || js[0].State != "Completed" || js[0].HasMoreData {
		t.Errorf("after the receive: %+v, want one Completed job without more data", js)
	}

	pid, ok := hostPid(h.path)
	if !ok {
		t.Fatalf("no host runs on %s after the receive", h.path)
	}
	hwm, err := vmHWM(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host peak RSS (VmHWM) after relaying and returning 1 GiB: %.1f MiB", float64(hwm)/(1<<20))
	if hwm >= bound {
		t.Errorf("the host's peak RSS is %.1f MiB, want < %d MiB: it holds output in memory", float64(hwm)/(1<<20), bound>>20)
	}
}

// TestManyJobs: 50 jobs at once; at most 16 run at a time, the rest queue
// as NotStarted, and all complete.
func TestManyJobs(t *testing.T) {
	const n, maxRunning = 50, 16
	h := newHome(t)
	for i := 0; i < n; i++ {
		out := h.run("start", "--name", "many", "--", "sleep 1; echo job $BGJOB_JOB_ID")
		if !regexpMatch(`(?m)^`+strconv.Itoa(i+1)+` +many +BackgroundJob +(NotStarted|Running|Completed) `, out) {
			t.Fatalf("start %d printed:\n%s", i+1, out)
		}
	}
	js := h.jobs("many")
	if len(js) != n {
		t.Fatalf("get many lists %d jobs, want %d", len(js), n)
	}
	states := map[string]int{}
	for _, j := range js {
		states[j.State]++
	}
	t.Logf("right after starting %d jobs: %v", n, states)
	if states["Running"] > maxRunning {
		t.Errorf("%d jobs run at once, want at most %d: %v", states["Running"], maxRunning, states)
	}
	if states["NotStarted"] == 0 {
		t.Errorf("no job waits as NotStarted right after starting %d jobs of 1 s each: %v", n, states)
	}
	for s := range states {
		if s != "Running" && s != "NotStarted" && s != "Completed" {
			t.Errorf("a job is %s right after starting: %v", s, states)
		}
	}

	// While `bgjob wait many` runs, keep sampling the job table: at no time
	// may more than maxRunning jobs run.
	stop := make(chan struct{})
	sampled := make(chan int, 1)
	go func() {
		peak := 0
		for {
			select {
			case <-stop:
				sampled <- peak
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := h.cmd(ctx, "get", "many", "--state", "Running", "-o", "json").Output()
			cancel()
			var running []jobView
			if err != nil || json.Unmarshal(out, &running) != nil {
				continue // the test's own checks report a broken host
			}
			peak = max(peak, len(running))
		}
	}()
	out := h.run("wait", "many")
	close(stop)
	peak := <-sampled
	t.Logf("at most %d jobs ran at once while waiting", peak)
	if peak > maxRunning {
		t.Errorf("%d jobs ran at once while waiting, want at most %d", peak, maxRunning)
	}
	if got := strings.Count(out, " many "); got != n {
		t.Errorf("wait many printed %d rows, want %d:\n%s", got, n, out)
	}
	js = h.jobs("many")
	for _, j := range js {
		if j.State != "Completed" || j.ExitCode == nil || *j.ExitCode != 0 {
			t.Errorf("job %d is %s (%s), exit code %v; want Completed with 0", j.ID, j.State, j.StateReason, j.ExitCode)
		}
	}
	// Every job ran its own script once.
	out = h.run("receive", "many")
	for i := 1; i <= n; i++ {
		if c := strings.Count(out, fmt.Sprintf("job %d\n", i)); c != 1 {
			t.Errorf("receive many holds %q %d times, want once", fmt.Sprintf("job %d", i), c)
		}
	}
	if got := strings.Count(out, "\n"); got != n {
		t.Errorf("receive many printed %d lines, want %d", got, n)
	}
}
