//go:build unix

package server

import (
	"bytes"
	"cmp"
	"slices"
	"testing"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// A start --wait sent again after its host died carries the last mark it
// was sent for its job; the next host passes on only what follows, so a
// line the caller printed before the death is not printed twice, even
// though the host's own read offset never moved past it. Here the job was
// started (with the caller's instance id) and printed "a" and "b"; a
// caller that has "a" gets "b" and "c", with marks after them, and one
// whose mark is of another attempt gets all three.
func TestStartWaitResume(t *testing.T) {
	for _, tt := range []struct {
		name        string
		sameAttempt bool
		want        string
	}{
		{"had a", true, "b\nc\n"},
		{"another attempt's mark", false, "a\nb\nc\n"},
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
			kept := th.Take([]string{"1"}, host.ReceiveOptions{Keep: true})
			if len(kept.Lines) != 2 {
				t.Fatalf("the job printed %q", kept.Texts())
			}
			attempt := th.Job("1").Attempt
			if attempt != 1 {
				t.Fatalf("the job runs attempt %d; want 1", attempt)
			}
			had := api.Mark{Job: 1, Attempt: attempt, Seq: kept.Lines[0].Seq}
			if !tt.sameAttempt {
				had.Attempt++
			}

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
			// The marks come in order, the last at the job's last record.
			if len(marks) == 0 || !slices.IsSortedFunc(marks, func(a, b api.Mark) int { return cmp.Compare(a.Seq, b.Seq) }) {
				t.Fatalf("marks %+v", marks)
			}
			if last := marks[len(marks)-1]; last.Job != 1 || last.Attempt != attempt || last.Seq <= kept.Lines[1].Seq {
				t.Errorf("last mark %+v; want job 1, the job's attempt, past b's seq %d", last, kept.Lines[1].Seq)
			}
		})
	}
}
