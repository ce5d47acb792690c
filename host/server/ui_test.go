//go:build unix

package server

import (
	"context"
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
