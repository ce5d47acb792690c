package host_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// A job's records are acknowledged to its runtime as they are stored, so
// that it can free them; a batch that brings the job's end too is
// acknowledged once, by the end's acknowledgement, which covers its
// records: one call to the runtime a job, not two.
func TestAcknowledgements(t *testing.T) {
	t.Run("records then the end", func(t *testing.T) {
		opts, l := hosttest.Fake(t)
		th := hosttest.Open(t, "", opts)
		th.Start("echo one; wait go")
		if awaitAcks(t, l, 1, 1) == 0 {
			t.Fatal("the record was not acknowledged within 10s while the job ran")
		}
		l.Open("go")
		th.Await("1")
		if j := th.Job("1"); j.State != api.Completed {
			t.Fatalf("job is %s", j.State)
		}
		if n := awaitAcks(t, l, 1, 2); n != 2 {
			t.Errorf("%d acknowledgements, want 2 (the record as it ran, then the end)", n)
		}
	})
	t.Run("the end with the records", func(t *testing.T) {
		opts, l := hosttest.Fake(t)
		l.HoldStreams()
		th := hosttest.Open(t, "", opts)
		th.Start("echo one") // one record: the fake sends a record a batch
		th.Await("1")
		if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); len(got) != 1 || got[0] != "one" {
			t.Fatalf("received %q, want one", got)
		}
		if n := awaitAcks(t, l, 1, 1); n != 1 {
			t.Errorf("%d acknowledgements, want 1 (the end's, covering the records)", n)
		}
		if got := l.AckLog(1); len(got) != 1 || got[0] != "1 done" {
			t.Errorf("acknowledgements %q, want [1 done]", got)
		}
	})
	// An attempt that fails and runs again (--retries): its end's
	// acknowledgement covers that attempt's records too, though the job
	// starts numbering afresh for the next attempt.
	t.Run("the end of an attempt that runs again", func(t *testing.T) {
		opts, l := hosttest.Fake(t)
		l.HoldStreams()
		th := hosttest.Open(t, "", opts)
		th.Start("echo one; exit 3", func(r *api.StartRequest) { r.Retries = 1 })
		if j := th.Await("1")[0]; j.State != api.Failed {
			t.Fatalf("job is %s, want Failed after its retry", j.State)
		}
		awaitAcks(t, l, 1, 2)
		if got := l.AckLog(1); fmt.Sprint(got) != "[1 done 1 done]" {
			t.Errorf("acknowledgements %q, want each attempt's end covering its record 1: [1 done 1 done]", got)
		}
	})
}

// A job's end whose runtime said with it that the process takes another
// job is acknowledged late, with the next job the process is given (or
// after a moment): nobody waits for the acknowledgement's answer. One
// whose process takes no other job is acknowledged by a call, as before.
func TestEndAcknowledgedLate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reuse bool
		want  string
	}{
		{"the process takes another", true, "[1 done late]"},
		{"the process takes no other", false, "[1 done]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, l := hosttest.Fake(t)
			l.HoldStreams()
			l.AnswerReuse()
			if tc.reuse {
				l.Reuse()
			}
			th := hosttest.Open(t, "", opts)
			th.Start("echo one")
			th.Await("1")
			awaitAcks(t, l, 1, 1)
			if got := fmt.Sprint(l.AckLog(1)); got != tc.want {
				t.Errorf("acknowledgements %s, want %s", got, tc.want)
			}
		})
	}
}

// awaitAcks waits for job id's runtime to have n acknowledgements (the
// end's comes after the job is seen to end), and a moment more for any
// beyond them, and returns how many it got.
func awaitAcks(t *testing.T, l *fakert.Launcher, id uint64, n int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(l.AckLog(id)) < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	return len(l.AckLog(id))
}
