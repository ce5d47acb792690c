package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/creack/pty"
)

// TestRepeatable: after the host vanished in the middle of a call, the CLI
// sends it once more only if doing it twice is doing it once: a start or
// restart named by its id, and a wait for jobs named or of a group (a wait
// changes nothing; the jobs outlive the host). A wait for the jobs in a
// state is not: sent again, it would choose other jobs.
func TestRepeatable(t *testing.T) {
	for _, tt := range []struct {
		name string
		req  api.Request
		want bool
	}{
		{"start with an instance id", api.Request{Op: api.OpStart, Start: &api.StartRequest{InstanceID: "x"}}, true},
		{"start without", api.Request{Op: api.OpStart, Start: &api.StartRequest{}}, false},
		{"wait for jobs named", api.Request{Op: api.OpWait, Jobs: []string{"A", "B"}}, true},
		{"wait for a group", api.Request{Op: api.OpWait, Filter: &api.Filter{Group: "gpu"}}, true},
		{"wait --state Running", api.Request{Op: api.OpWait, Filter: &api.Filter{State: "Running"}}, false},
		{"stop", api.Request{Op: api.OpStop, Jobs: []string{"A"}}, false},
		{"receive", api.Request{Op: api.OpReceive, Jobs: []string{"A"}}, false},
	} {
		if got := repeatable(&tt.req); got != tt.want {
			t.Errorf("%s: repeatable %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCountable: start --wait hands the host only a regular file or a
// device that is no terminal (/dev/null), which the host writes faster
// itself; a pipe or a terminal goes through the CLI, which keeps the
// host's marks of what it printed.
func TestCountable(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	defer tty.Close()
	var buf bytes.Buffer
	for _, tt := range []struct {
		name   string
		w      io.Writer
		direct bool
	}{
		{"a pipe", w, false},
		{"a regular file", file, true},
		{"/dev/null", null, true},
		{"a terminal", tty, false},
		{"not a file", &buf, false},
	} {
		_, direct := countable(tt.w).(*os.File)
		if direct != tt.direct {
			t.Errorf("%s: handed to the host %v, want %v", tt.name, direct, tt.direct)
		}
	}
}

// TestResumeList: the marks sent again are the last of each job, in job
// order.
func TestResumeList(t *testing.T) {
	var k resume
	for _, m := range []api.Mark{{Job: 7, Attempt: 1, Seq: 3}, {Job: 2, Attempt: 1, Seq: 9}, {Job: 7, Attempt: 2, Seq: 1}} {
		k.mark(m)
	}
	want := []api.Mark{{Job: 2, Attempt: 1, Seq: 9}, {Job: 7, Attempt: 2, Seq: 1}}
	if got := k.list(); !slices.Equal(got, want) {
		t.Errorf("list %+v, want %+v", got, want)
	}
}
