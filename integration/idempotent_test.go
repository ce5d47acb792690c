//go:build linux

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killHostSoon kills (SIGKILL) the host of h at once, without waiting: the
// point is to cut off a call in flight.
func killHostSoon(h *home) {
	if pid, ok := hostPid(h.path); ok {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
	}
}

// TestStartCutOffByHostKill: the host is killed 0–10 ms after `bgjob start`
// was issued, again and again. A start must never fail having made its job,
// nor make it twice, and every job that exists runs exactly once. Since the
// host is killed once per call, and the CLI retries a call the host
// vanished from (the host recognising the job's instance id if it had made
// it), every start must in fact succeed. Then the same for `restart
// --in-place`: a retried restart must not run the job a second time.
func TestStartCutOffByHostKill(t *testing.T) {
	h := newHome(t)
	runs := t.TempDir()
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	const n = 40
	deadline := time.Now().Add(90 * time.Second)
	type outcome struct {
		code           int
		stdout, stderr string
	}
	kill := func(args ...string) outcome {
		t.Helper()
		h.run("get") // a host is up, so the call below goes to it
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := h.cmd(ctx, args...)
		var stdout, stderr strings.Builder
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(r.Intn(10_001)) * time.Microsecond)
		killHostSoon(h)
		err := c.Wait()
		code := 0
		if err != nil {
			code = c.ProcessState.ExitCode()
		}
		return outcome{code, stdout.String(), stderr.String()}
	}
	outcomes := map[string]outcome{}
	var names []string
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		name := fmt.Sprintf("k%d", i)
		names = append(names, name)
		outcomes[name] = kill("start", "--name", name, "--workdir", runs, "--", "echo ran >> "+name)
	}
	h.run("wait", "k*")
	count := func(name string) int {
		b, err := os.ReadFile(filepath.Join(runs, name))
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "ran\n")
	}
	// The jobs of a name; none is exit status 3 ("no job matches").
	jobsNamed := func(name string) []jobView {
		t.Helper()
		code, out, stderr := h.exec("", "get", "-o", "json", name)
		switch {
		case code == 3:
			return nil
		case code != 0:
			t.Fatalf("bgjob get %s: exit status %d: %s", name, code, stderr)
		}
		var js []jobView
		if err := json.Unmarshal([]byte(out), &js); err != nil {
			t.Fatalf("bgjob get -o json: %v\n%s", err, out)
		}
		return js
	}
	failed := 0
	for _, name := range names {
		o := outcomes[name]
		js := jobsNamed(name)
		switch {
		case o.code == 0 && len(js) != 1:
			t.Errorf("start %s succeeded, and %d jobs of that name exist", name, len(js))
		case o.code != 0 && len(js) != 0:
			t.Errorf("start %s failed (exit %d: %s), yet %d jobs of that name were made", name, o.code, strings.TrimSpace(o.stderr), len(js))
		case o.code != 0:
			// Clean, but the host was killed once only: the CLI's
			// retry, to a host started again, must have made it.
			failed++
			t.Errorf("start %s failed (cleanly: no job was made), not retried: exit %d: %s", name, o.code, strings.TrimSpace(o.stderr))
		}
		if got, want := count(name), len(js); got != want {
			t.Errorf("job %s ran %d times; %d jobs of that name exist", name, got, want)
		}
	}
	t.Logf("%d starts, %d failed", len(names), failed)

	// restart --in-place of finished jobs, cut off the same way: each
	// job runs once more, never twice more.
	var restarted []string
	for _, name := range names {
		if time.Now().After(deadline.Add(30*time.Second)) || len(restarted) == n/2 {
			break
		}
		if len(jobsNamed(name)) != 1 {
			continue
		}
		restarted = append(restarted, name)
		outcomes[name] = kill("restart", "--in-place", name)
	}
	h.run("wait", "k*")
	for _, name := range restarted {
		o := outcomes[name]
		got := count(name)
		switch {
		case o.code == 0 && got != 2:
			t.Errorf("restart --in-place %s succeeded, and the job ran %d times in all (want 2)", name, got)
		case o.code != 0 && got != 1:
			t.Errorf("restart --in-place %s failed (exit %d: %s), yet the job ran %d times in all (want 1: not restarted)", name, o.code, strings.TrimSpace(o.stderr), got)
		case o.code != 0:
			t.Errorf("restart --in-place %s failed (cleanly: not restarted), not retried: exit %d: %s", name, o.code, strings.TrimSpace(o.stderr))
		}
	}
}
