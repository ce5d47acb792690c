//go:build unix

package server

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// TestServeRemoveLeavesUnfinished: remove removes what is finished. An
// unfinished job a wildcard or a filter picked is left and named on
// stderr, and the call succeeds; one named exactly is an error (exit 6)
// once the rest are gone.
func TestServeRemoveLeavesUnfinished(t *testing.T) {
	th := fakeHost(t)
	call := serve(t, th)
	th.Start("echo done", hosttest.Named("Done"))
	th.Start("sleep", hosttest.Named("Busy"))
	th.Await("1")
	left := regexp.MustCompile(`^bgjob: left what is not finished: job 2 \(Busy, \w+\); 'bgjob remove --force' would stop and remove it\n$`)

	tests := []struct {
		name   string
		req    api.Request
		code   int
		stderr *regexp.Regexp
	}{
		{"a wildcard", api.Request{Jobs: []string{"*"}}, 0, left},
		{"a name wildcard", api.Request{Jobs: []string{"B*"}}, 0, left},
		{"a filter", api.Request{Filter: &api.Filter{Group: api.DefaultGroup}}, 0, left},
		{"its id", api.Request{Jobs: []string{"2"}}, api.ExitConflict, nil},
		{"its id, with a wildcard", api.Request{Jobs: []string{"*", "2"}}, api.ExitConflict, nil},
		{"its name", api.Request{Jobs: []string{"Busy"}}, api.ExitConflict, nil},
		{"its instance id", api.Request{Jobs: []string{th.Job("2").InstanceID}}, api.ExitConflict, nil},
	}
	for _, tt := range tests {
		// A finished job for each removal to take.
		done := th.Start("echo done", hosttest.Named("Done"))
		th.Await(done.InstanceID)
		req := tt.req
		req.Op = api.OpRemove
		if len(req.Jobs) > 0 {
			req.Jobs = append(req.Jobs, "Done") // named, and finished
		}
		code, out, errOut, err := call(&req)
		if code != tt.code || out != "" {
			t.Errorf("%s: remove %q: exit %d, stdout %q; want exit %d", tt.name, req.Jobs, code, out, tt.code)
		}
		switch {
		case tt.code == 0 && (err != nil || !tt.stderr.MatchString(errOut)):
			t.Errorf("%s: remove %q: error %v, stderr %q; want the job left named", tt.name, req.Jobs, err, errOut)
		case tt.code != 0 && (err == nil || !strings.Contains(err.Error(), "job 2 (Busy") || !strings.Contains(err.Error(), "--force")):
			t.Errorf("%s: remove %q: error %v; want one naming job 2 and --force", tt.name, req.Jobs, err)
		}
		// Either way the finished jobs are gone, the running one stays.
		if js, _ := th.Jobs(context.Background(), nil, nil); !idsEqual(ids(js), 2) {
			t.Errorf("%s: remove %q left jobs %v, want only 2", tt.name, req.Jobs, ids(js))
		}
	}
	// With --force it goes too, and nothing is said.
	code, _, errOut, err := call(&api.Request{Op: api.OpRemove, Jobs: []string{"Busy"}, Force: true})
	if code != 0 || err != nil || errOut != "" {
		t.Errorf("remove --force Busy: exit %d, %v, stderr %q", code, err, errOut)
	}
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Errorf("remove --force left %v", ids(js))
	}
	// Nothing left unfinished: nothing said.
	th.Await(th.Start("echo done").InstanceID)
	if code, _, errOut, err := call(&api.Request{Op: api.OpRemove, Jobs: []string{"*"}}); code != 0 || err != nil || errOut != "" {
		t.Errorf("remove '*' of finished jobs: exit %d, %v, stderr %q", code, err, errOut)
	}
}

// TestServeIDs: -o id prints the ids alone, one a line, for scripts:
// start's new job's, get's, restart's.
func TestServeIDs(t *testing.T) {
	th := fakeHost(t)
	call := serve(t, th)
	dir := t.TempDir()
	start := func() string {
		t.Helper()
		code, out, errOut, err := call(&api.Request{Op: api.OpStart, Output: api.FormatID,
			Start: &api.StartRequest{Script: "echo hi", Workdir: dir, Env: hosttest.JobEnv}})
		if code != 0 || err != nil || errOut != "" {
			t.Fatalf("start -o id: %d %v %q", code, err, errOut)
		}
		return out
	}
	if out := start(); out != "1\n" {
		t.Errorf("start -o id printed %q, want 1", out)
	}
	if out := start(); out != "2\n" {
		t.Errorf("start -o id printed %q, want 2", out)
	}
	th.Await("1", "2")
	if _, out, _, _ := call(&api.Request{Op: api.OpGet, Output: api.FormatID}); out != "1\n2\n" {
		t.Errorf("get -o id printed %q", out)
	}
	if _, out, _, _ := call(&api.Request{Op: api.OpGet, Output: api.FormatID, Filter: &api.Filter{State: "Running"}}); out != "" {
		t.Errorf("get -o id of no job printed %q", out)
	}
	if _, out, _, _ := call(&api.Request{Op: api.OpRestart, Jobs: []string{"1", "2"}, Output: api.FormatID, Restart: &api.RestartRequest{}}); out != "3\n4\n" {
		t.Errorf("restart -o id printed %q", out)
	}
}

// TestServeReceiveTail: receive --tail N prints the last N records (lines)
// of each job that the output shows, and consumes nothing.
func TestServeReceiveTail(t *testing.T) {
	th := fakeHost(t)
	call := serve(t, th)
	th.Start("lines 10 line; verbose v1; warn w1", hosttest.Named("Ten"))
	th.Start("echo a; echo b; exit 3", hosttest.Named("Bad"))
	th.Await("1", "2")
	n := func(i int) *int { return &i }

	tests := []struct {
		name           string
		req            api.Request
		code           int
		stdout, stderr string
	}{
		{"text", api.Request{Jobs: []string{"Ten"}, Tail: n(3)}, 0, "line9\nline10\n", "WARNING: w1\n"},
		{"verbose counts when shown", api.Request{Jobs: []string{"Ten"}, Tail: n(3), Verbose: true}, 0, "line10\n", "VERBOSE: v1\nWARNING: w1\n"},
		{"more than there is", api.Request{Jobs: []string{"Ten"}, Tail: n(100)}, 0, "line1\nline2\nline3\nline4\nline5\nline6\nline7\nline8\nline9\nline10\n", "WARNING: w1\n"},
		{"none", api.Request{Jobs: []string{"Ten"}, Tail: n(0)}, 0, "", ""},
		{"a failed job: its reason after its tail", api.Request{Jobs: []string{"Bad"}, Tail: n(1)}, api.ExitJobFailed, "b\n", "bgjob: job 2 (Bad) failed: exit status 3\n"},
		{"each job's own tail", api.Request{Jobs: []string{"*"}, Tail: n(1)}, api.ExitJobFailed, "b\n", "WARNING: w1\nbgjob: job 2 (Bad) failed: exit status 3\n"},
		{"json: every stream", api.Request{Jobs: []string{"Ten"}, Tail: n(2), Output: api.FormatJSON}, 0,
			`{"jobId":1,"seq":11,"stream":"verbose","time":"1970-01-01T00:00:00.000000001Z","message":"v1"}` + "\n" +
				`{"jobId":1,"seq":12,"stream":"warning","time":"1970-01-01T00:00:00.000000001Z","message":"w1"}` + "\n", ""},
		{"json: lines of a chunk", api.Request{Jobs: []string{"Ten"}, Tail: n(3), Output: api.FormatJSON, Verbose: true}, 0,
			`"seq":10,"stream":"output"`, ""},
	}
	for _, tt := range tests {
		req := tt.req
		req.Op = api.OpReceive
		code, out, errOut, _ := call(&req)
		if tt.name == "json: lines of a chunk" {
			if !strings.Contains(out, tt.stdout) || strings.Count(out, "\n") != 3 {
				t.Errorf("%s: stdout %q", tt.name, out)
			}
			continue
		}
		if code != tt.code || out != tt.stdout || errOut != tt.stderr {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, %q, %q", tt.name, code, out, errOut, tt.code, tt.stdout, tt.stderr)
		}
	}
	// Nothing was consumed.
	if code, out, _, _ := call(&api.Request{Op: api.OpReceive, Jobs: []string{"Ten"}}); code != 0 || strings.Count(out, "\n") != 10 {
		t.Errorf("receive after the tails: exit %d, %q; want all 10 lines", code, out)
	}
	// A negative tail, or one that would remove, is refused.
	for _, req := range []api.Request{
		{Op: api.OpReceive, Jobs: []string{"Ten"}, Tail: n(-1)},
		{Op: api.OpReceive, Jobs: []string{"Ten"}, Tail: n(1), Wait: true, AutoRemove: true},
	} {
		if code, _, _, _ := call(&req); code != api.ExitUsage {
			t.Errorf("receive %+v: exit %d, want 2", req, code)
		}
	}
}

// TestServeReceiveTailFollow: --tail N --wait prints the last N records,
// then what the job prints after them, each once (tail -n N -f).
func TestServeReceiveTailFollow(t *testing.T) {
	opts, l := hosttest.Fake(t)
	th := hosttest.Open(t, "", opts)
	serve(t, th)
	th.Start("echo old1; echo old2; wait more; echo new1; warn done")
	th.WaitOutput("1", "old2")
	if err := l.WaitBlocked(1); err != nil {
		t.Fatal(err)
	}
	c, err := api.Dial(th.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pr, pw := io.Pipe()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	var errOut strings.Builder
	n := 1
	go func() {
		code, err := c.Do(&api.Request{Op: api.OpReceive, Jobs: []string{"1"}, Tail: &n, Wait: true}, pw, &errOut)
		pw.Close()
		done <- result{code, err}
	}()
	br := bufio.NewReader(pr)
	if line, err := br.ReadString('\n'); line != "old2\n" || err != nil {
		t.Fatalf("the tail began %q (%v), want old2", line, err)
	}
	// The job goes on only now: what it prints follows the tail.
	l.Open("more")
	rest, _ := io.ReadAll(br)
	r := <-done
	if r.code != 0 || r.err != nil || string(rest) != "new1\n" || errOut.String() != "WARNING: done\n" {
		t.Errorf("after the tail: exit %d (%v), stdout %q, stderr %q; want new1 and the warning", r.code, r.err, rest, errOut.String())
	}
	if j := th.Job("1"); !j.HasMoreData {
		t.Error("--tail --wait consumed the job's records")
	}
}

// TestStoppedText: a stopped job's reason is said when it says more than
// "stopped".
func TestStoppedText(t *testing.T) {
	for reason, want := range map[string]string{
		"":                              "job 4 (B) was stopped",
		"stopped":                       "job 4 (B) was stopped",
		"Stopped":                       "job 4 (B) was stopped",
		"stopped by the queue clean-up": "job 4 (B) was stopped: stopped by the queue clean-up",
	} {
		if got := stoppedText(&api.Job{ID: 4, Name: "B", State: api.Stopped, StateReason: reason}); got != want {
			t.Errorf("reason %q: %q, want %q", reason, got, want)
		}
	}
}
