package task

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
)

// batch is framed records as a runtime sends them, numbered from first.
func batch(t *testing.T, first uint64, msgs ...string) []byte {
	t.Helper()
	var b []byte
	for i, m := range msgs {
		r := sdk.NewOutput(m, "")
		r.Seq = first + uint64(i)
		var err error
		if b, err = recordlog.AppendFramed(b, r); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// logged is what a task's log holds: each record's number and text.
func logged(t *testing.T, path string) []string {
	t.Helper()
	end, err := recordlog.Scan(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = recordlog.Read(path, 0, end.Size, func(r *sdk.Record, _ int64) error {
		got = append(got, fmt.Sprintf("%s %d %s", sdk.StreamNames[r.Stream], r.Seq, r.Message))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// startRun is what Run does with the task's log before its runtime
// starts: it opens the log and asks nextRun where the run's records go,
// then writes the run's start.
func startRun(t *testing.T, dir string, o Options) (w *recordlog.Writer, base, after uint64) {
	t.Helper()
	end, err := recordlog.Scan(LogPath(dir, o.Task))
	if err != nil {
		t.Fatal(err)
	}
	w, err = recordlog.Open(LogPath(dir, o.Task), end.Size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	base, after, err = nextRun(dir, o, w, end)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(Started{Node: o.Node, Time: time.Now(), Run: o.Run, Base: base})
	writeFile(t, StartPath(dir, o.Task), string(st))
	return w, base, after
}

// A job Slurm requeued runs again from the start, its runtime numbering
// its records from 1 again: the task keeps the first run's records and
// numbers the new run's on after them, behind a warning that says where
// the new run begins, so that a host that holds the first run's records
// takes every one of the second's. The same run started again goes on
// where it was.
func TestNextRun(t *testing.T) {
	dir := t.TempDir()
	w, base, after := startRun(t, dir, Options{Node: "n1"})
	if base != 0 || after != 0 {
		t.Fatalf("a first run: base %d, after %d; want 0, 0", base, after)
	}
	if err := w.Append(batch(t, 1, "a", "b")); err != nil {
		t.Fatal(err)
	}

	// Slurm requeued it: run 2.
	w, base, after = startRun(t, dir, Options{Node: "n2", Run: 1})
	if base != 3 || after != 0 {
		t.Fatalf("a requeued run: base %d, after %d; want 3 (after the first run's two records and the warning), 0", base, after)
	}
	data, err := renumber(batch(t, 1, "a", "b"), base)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(data); err != nil {
		t.Fatal(err)
	}
	got := logged(t, LogPath(dir, 0))
	want := []string{"output 1 a", "output 2 b", "warning 3 Slurm requeued the job: it runs again from the start (run 2, on n2); the records before this one are from its first run", "output 4 a", "output 5 b"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the task's log holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Run 2's step started again: its runtime skips the two records it
	// sent, which the log holds after base.
	_, base, after = startRun(t, dir, Options{Node: "n2", Run: 1})
	if base != 3 || after != 2 {
		t.Errorf("run 2 started again: base %d, after %d; want 3, 2", base, after)
	}
	if n := len(logged(t, LogPath(dir, 0))); n != 5 {
		t.Errorf("run 2 started again wrote to the log: %d records, want 5", n)
	}
}
