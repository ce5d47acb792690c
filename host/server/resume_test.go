//go:build unix

package server

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// A start --wait sent again after its host died carries the last mark it
// was sent for its job; the next host passes on only what follows, so a
// line the caller printed before the death is not printed twice, even
// though the host's own read offset never moved past it. Here the job was
// started (with the caller's instance id) and printed "a" and "b" (and,
// in the last case, "c" and failed): a caller that has "a" gets "b" and
// "c", one whose mark is of another attempt gets all three, and one that
// had all of it and the job's end gets neither again, only the exit
// status.
func TestStartWaitResume(t *testing.T) {
	for _, tt := range []struct {
		name    string
		had     func(seqs []uint64, attempt int) api.Mark
		ended   bool // the job has ended before it is sent again
		want    string
		wantErr string
	}{
		{"had a", func(seqs []uint64, attempt int) api.Mark { return api.Mark{Job: 1, Attempt: attempt, Seq: seqs[0]} },
			false, "b\nc\n", "failed: exit status 3"},
		{"another attempt's mark", func(seqs []uint64, attempt int) api.Mark { return api.Mark{Job: 1, Attempt: attempt + 1, Seq: seqs[0]} },
			false, "a\nb\nc\n", "failed: exit status 3"},
		{"had all and the end", func(seqs []uint64, attempt int) api.Mark {
			return api.Mark{Job: 1, Attempt: attempt, Seq: seqs[len(seqs)-1], End: true}
		}, true, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, l := hosttest.Fake(t)
			th := hosttest.Open(t, "", opts)
			call := serve(t, th)
			dir := t.TempDir()
			id := api.NewInstanceID()
			start := api.StartRequest{InstanceID: id, Script: "echo a; wait g1; echo b; wait g2; echo c; exit 3", Workdir: dir, Env: hosttest.JobEnv}
			if code, _, _, err := call(&api.Request{Op: api.OpStart, Start: &start}); code != 0 || err != nil {
				t.Fatalf("start: %d %v", code, err)
			}
			th.WaitOutput("1", "a")
			l.Open("g1")
			th.WaitOutput("1", "b")
			if tt.ended {
				l.Open("g2")
				th.Await("1")
			}
			attempt := th.Job("1").Attempt
			if attempt != 1 {
				t.Fatalf("the job runs attempt %d; want 1", attempt)
			}
			var seqs []uint64
			for _, l := range th.Take([]string{"1"}, host.ReceiveOptions{Keep: true}).Lines {
				seqs = append(seqs, l.Seq)
			}
			had := tt.had(seqs, attempt)

			c, err := api.Dial(th.Dir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var marks []api.Mark
			c.Marked = func(m api.Mark) { marks = append(marks, m) }
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() {
				code, _ := c.Do(&api.Request{Op: api.OpStart, Wait: true, Marks: true, Resume: []api.Mark{had}, Start: &start}, &stdout, &stderr)
				done <- code
			}()
			l.Open("g2")
			if code := <-done; code != 3 {
				t.Errorf("start --wait sent again: code %d, stderr %q; want 3", code, stderr.String())
			}
			if stdout.String() != tt.want {
				t.Errorf("start --wait sent again printed %q; want %q", stdout.String(), tt.want)
			}
			if tt.wantErr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("start --wait sent again printed %q on stderr; want %q", stderr.String(), tt.wantErr)
			}
			// The marks come in order, the last at the job's end.
			if len(marks) == 0 || !slices.IsSortedFunc(marks, func(a, b api.Mark) int { return cmp.Compare(a.Seq, b.Seq) }) {
				t.Fatalf("marks %+v", marks)
			}
			if last := marks[len(marks)-1]; last.Job != 1 || last.Attempt != attempt || !last.End {
				t.Errorf("last mark %+v; want job 1, attempt %d, the end", last, attempt)
			}
		})
	}
}

// A start --wait caller that goes away while its job prints a lot (killed,
// its reader gone) takes the job with it, also when the host learns it
// from a failed write before it reads the connection's end (a caller that
// takes marks sends nothing, so there is nothing to read first).
func TestStartWaitCallerGoneMidOutput(t *testing.T) {
	th := fakeHost(t)
	serve(t, th)
	for i := 0; i < 5; i++ {
		c, err := api.Dial(th.Dir)
		if err != nil {
			t.Fatal(err)
		}
		start := api.StartRequest{Script: "lines 3000000", Workdir: t.TempDir(), Env: hosttest.JobEnv}
		if _, err := c.Do(&api.Request{Op: api.OpStart, Wait: true, Marks: true, Start: &start}, &failingWriter{}, &failingWriter{}); err == nil {
			t.Fatal("start --wait into a failing stdout did not fail")
		}
		c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		js, err := th.Jobs(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(js) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs %v are left after their start --wait callers went away", ids(js))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A start --wait whose stdout the host writes itself (a CLI of another
// build may hand it a pipe) ends as SIGPIPE would when the pipe's reader
// goes, quietly with 141, and its job, still running, is stopped and
// removed at once: the call returns with the job gone.
func TestStartWaitHostWrittenReaderGone(t *testing.T) {
	th := fakeHost(t)
	serve(t, th)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	c, err := api.Dial(th.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		// The reader takes a little, then goes (| head -c 4096).
		io.ReadFull(r, make([]byte, 4096))
		r.Close()
	}()
	start := api.StartRequest{Script: "lines 3000000; hang", Workdir: t.TempDir(), Env: hosttest.JobEnv}
	code, err := c.Do(&api.Request{Op: api.OpStart, Wait: true, Start: &start}, w, errFile)
	w.Close()
	if code != api.ExitBrokenPipe || err != nil {
		t.Errorf("start --wait into a pipe whose reader went: code %d, %v; want 141 quietly", code, err)
	}
	if js, err := th.Jobs(context.Background(), nil, nil); err != nil || len(js) != 0 {
		t.Errorf("jobs %v are left (%v) after start --wait returned", ids(js), err)
	}
}
