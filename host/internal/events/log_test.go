//go:build unix

package events

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/store"
)

// open opens a log whose hooks never run on their own (the test runs them
// with next and run), as a host just started.
func open(t *testing.T, path string, keep int) *Log {
	t.Helper()
	l := Open(Config{Path: path, Keep: keep, Timeout: 5 * time.Second, manual: true})
	t.Cleanup(func() {
		if l.f != nil {
			l.f.Close()
		}
	})
	return l
}

// kill closes l's file as a host killed would leave it: nothing written
// after, nothing flushed or rewritten.
func kill(l *Log) {
	l.f.Close()
	l.f = nil
}

func seqs(rs []Record) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

// The numbers go on across a reopen, and the file stays bounded: past
// 2*Keep events it keeps the newest Keep, and an older event whose hooks
// are still due.
func TestLogBoundedAndResumed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	l := open(t, path, 3)
	l.append(Record{Event: api.Event{JobID: 1, To: api.Completed}, Hook: &Hook{Commands: []string{"true"}}})
	for i := range 8 {
		l.append(Record{Event: api.Event{JobID: uint64(i + 2), From: api.NotStarted, To: api.Running}})
	}
	if l.Seq() != 9 {
		t.Fatalf("Seq = %d, want 9", l.Seq())
	}
	rs, _ := l.after(0)
	if got := seqs(rs); len(got) > 6 || got[len(got)-1] != 9 {
		t.Fatalf("kept %v, want at most 6 ending with 9", got)
	}
	l.mu.Lock()
	l.awaitCompactionLocked() // the rewrite runs beside the appends
	l.mu.Unlock()
	kill(l)

	l2 := open(t, path, 3)
	if l2.Seq() != 9 {
		t.Fatalf("reopened Seq = %d, want 9", l2.Seq())
	}
	if l2.lines > 2*3+1 {
		t.Errorf("the file has %d lines, want at most 7", l2.lines)
	}
	if !slices.Equal(l2.queue, []uint64{1}) {
		t.Errorf("due hooks after reopen = %v, want [1] (kept past the bound)", l2.queue)
	}
	rs, _ = l2.after(7)
	if got := seqs(rs); !slices.Equal(got, []uint64{8, 9}) {
		t.Errorf("after(7) = %v, want [8 9]", got)
	}
	l2.append(Record{Event: api.Event{JobID: 20, To: api.Running}})
	if l2.Seq() != 10 {
		t.Errorf("next Seq = %d, want 10", l2.Seq())
	}
}

// A hook marked started is not run again by the next host; one that was
// due and not started is, once.
func TestHooksRunOnceAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	l := open(t, path, 100)
	l.append(Record{Event: api.Event{JobID: 1, To: api.Completed}, Hook: &Hook{Commands: []string{"true"}, Dir: dir}})
	l.append(Record{Event: api.Event{JobID: 2, To: api.Failed}, Hook: &Hook{Commands: []string{"true"}, Dir: dir}})
	// The host starts job 1's hook and is killed.
	r, ok := l.next()
	if !ok || r.JobID != 1 {
		t.Fatalf("next = %v %v, want job 1's hook", r.JobID, ok)
	}
	kill(l)

	l2 := open(t, path, 100)
	if !slices.Equal(l2.queue, []uint64{2}) {
		t.Fatalf("due after reopen = %v, want [2]: job 1's hook was started", l2.queue)
	}
	if !l2.Busy() {
		t.Error("Busy = false with a hook due: an idle host would exit before running it")
	}
	if r, ok := l2.next(); !ok || r.JobID != 2 {
		t.Fatalf("next = %v %v, want job 2's hook", r.JobID, ok)
	}
	kill(l2)
	if l3 := open(t, path, 100); len(l3.queue) != 0 || l3.Busy() {
		t.Errorf("due after another reopen = %v (busy %v), want none", l3.queue, l3.Busy())
	}
}

// A torn last line (a host killed mid-write, a disk that filled up, or
// the zeros a power loss leaves where a write did not reach) is skipped;
// the rest is read, and what is written after it reads back: the first
// event after a restart, and the hook it carries, are not glued to the
// torn bytes and lost with them.
func TestLogTornLine(t *testing.T) {
	for _, torn := range []string{`{"Seq":2,"Jo`, "\x00\x00\x00\x00"} {
		path := filepath.Join(t.TempDir(), "events.log")
		l := open(t, path, 100)
		l.append(Record{Event: api.Event{JobID: 1, To: api.Running}})
		l.f.Write([]byte(torn))
		kill(l)
		l2 := open(t, path, 100)
		if l2.Seq() != 1 {
			t.Errorf("%q: Seq = %d, want 1", torn, l2.Seq())
		}
		l2.append(Record{Event: api.Event{JobID: 1, From: api.Running, To: api.Completed}, Hook: &Hook{Commands: []string{"true"}}})
		kill(l2)
		l3 := open(t, path, 100)
		if l3.Seq() != 2 || !slices.Equal(l3.queue, []uint64{2}) {
			t.Errorf("%q: after an event written past the torn line: Seq = %d, hooks due %v; want 2, [2]", torn, l3.Seq(), l3.queue)
		}
	}
}

// A hook runs in the job's directory with what it is told of the job; one
// that fails or takes too long leaves the next to run.
func TestRunHook(t *testing.T) {
	dir := t.TempDir()
	l := open(t, filepath.Join(dir, "events.log"), 100)
	l.cfg.Timeout = 200 * time.Millisecond
	code := 3
	cases := []struct {
		name string
		r    Record
		want string
	}{
		{"env", Record{Event: api.Event{Seq: 7, JobID: 4, Name: "Build", Group: "gpu", To: api.Failed, Reason: "exit status 3", ExitCode: &code},
			Hook: &Hook{Commands: []string{"echo \"$(pwd) $BGJOB_JOB_ID $BGJOB_JOB_NAME $BGJOB_JOB_STATE $BGJOB_JOB_EXIT_CODE $BGJOB_JOB_REASON $BGJOB_JOB_GROUP ${BGJOB_GROUP_DONE-unset}\" > out"}, Dir: dir}},
			dir + " 4 Build Failed 3 exit status 3 gpu unset\n"},
		{"group done, no exit code", Record{Event: api.Event{JobID: 5, Name: "S", Group: "default", To: api.Stopped},
			Hook: &Hook{Commands: []string{"echo \"[$BGJOB_JOB_EXIT_CODE] $BGJOB_GROUP_DONE\" > out"}, Dir: dir, GroupDone: true}},
			"[] 1\n"},
		{"failing and slow ones go on to the next", Record{Event: api.Event{JobID: 6, To: api.Completed},
			Hook: &Hook{Commands: []string{"exit 7", "sleep 30", "echo next > out"}, Dir: dir}},
			"next\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "out"))
			l.run(context.Background(), c.r)
			b, err := os.ReadFile(filepath.Join(dir, "out"))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.want {
				t.Errorf("hook wrote %q, want %q", b, c.want)
			}
		})
	}
}

// The hook's environment does not pass on the host's own BGJOB_JOB_*.
func TestHookEnvOwn(t *testing.T) {
	t.Setenv("BGJOB_JOB_NAME", "stale")
	env := append((&Log{}).baseEnv(Record{Hook: &Hook{}}), hookEnv(Record{Event: api.Event{Name: "fresh"}, Hook: &Hook{}})...)
	var names []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "BGJOB_JOB_NAME=") {
			names = append(names, kv)
		}
	}
	if !slices.Equal(names, []string{"BGJOB_JOB_NAME=fresh"}) {
		t.Errorf("BGJOB_JOB_NAME in the hook's environment: %v", names)
	}
}

// A host killed after logging a job's end but before writing its row
// finds the row older than the log: the recovery's moves that replay what
// the log told are not told again, and its hooks not queued again; what
// is new is told.
func TestReplayNotToldTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	l := open(t, path, 100)
	l.append(Record{Event: api.Event{JobID: 1, From: api.NotStarted, To: api.Running}})
	l.append(Record{Event: api.Event{JobID: 1, From: api.Running, To: api.Completed}, Hook: &Hook{Commands: []string{"true"}}})
	l.append(Record{Event: api.Event{JobID: 2, From: api.NotStarted, To: api.Running}})
	kill(l)

	l2 := open(t, path, 100)
	l2.cfg.Table = jobs.New(jobs.Config{})
	move := func(j *jobs.Job, to api.State) {
		from := j.Row.State
		j.Row.State = to
		l2.MovedLocked(j, from)
	}
	// Job 1's row still says NotStarted: found running, then ended.
	j1 := jobs.NewJob(&store.Row{Job: api.Job{ID: 1, Name: "A", State: api.NotStarted}})
	move(j1, api.Running)
	move(j1, api.Completed)
	// Job 2's row says NotStarted too; it ended while no host ran.
	j2 := jobs.NewJob(&store.Row{Job: api.Job{ID: 2, Name: "B", State: api.NotStarted}, OnEnd: "true"})
	move(j2, api.Running)
	move(j2, api.Failed)
	// Job 1 restarted in place afterwards is news.
	move(j1, api.NotStarted)
	rs, _ := l2.after(3)
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%d %s->%s hook=%v", r.JobID, r.From, r.To, r.Hook != nil))
	}
	want := []string{"2 Running->Failed hook=true", "1 Completed->NotStarted hook=false"}
	if !slices.Equal(got, want) {
		t.Errorf("events after the restart: %q, want %q", got, want)
	}
	if !slices.Equal(l2.queue, []uint64{2, 4}) {
		t.Errorf("due hooks = %v, want [2 4]: job 1's (not started before) and job 2's, once each", l2.queue)
	}
}

// Events appended while the file is rewritten (in the background, off the
// table's lock) are in the new file, after those it kept, and a hook
// marked started meanwhile stays started.
func TestCompactKeepsWhatCameMeanwhile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	l := open(t, path, 2)
	release := make(chan struct{})
	started := make(chan struct{})
	l.beforeSwap = func() { close(started); <-release }
	l.append(Record{Event: api.Event{JobID: 1, To: api.Completed}, Hook: &Hook{Commands: []string{"true"}, Dir: dir}})
	for i := range 5 {
		l.append(Record{Event: api.Event{JobID: uint64(i + 2), From: api.NotStarted, To: api.Running}})
	}
	select { // the rewrite has taken events 1 (due), 5 and 6
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no rewrite started past 2*Keep events")
	}
	l.append(Record{Event: api.Event{JobID: 10, From: api.NotStarted, To: api.Running}})
	l.append(Record{Event: api.Event{JobID: 11, From: api.NotStarted, To: api.Running}})
	if r, ok := l.next(); !ok || r.JobID != 1 { // job 1's hook starts now
		t.Fatalf("next = %v %v, want job 1's hook", r.JobID, ok)
	}
	close(release)
	l.mu.Lock()
	l.awaitCompactionLocked()
	l.mu.Unlock()
	kill(l)

	l2 := open(t, path, 2)
	if l2.Seq() != 8 {
		t.Fatalf("reopened Seq = %d, want 8", l2.Seq())
	}
	if len(l2.queue) != 0 {
		t.Errorf("due hooks after reopen = %v, want none: job 1's was started during the rewrite", l2.queue)
	}
	rs, _ := l2.after(6)
	if got := seqs(rs); !slices.Equal(got, []uint64{7, 8}) {
		t.Errorf("after(6) = %v, want [7 8]: the events appended during the rewrite", got)
	}
	if l2.lines > 6 {
		t.Errorf("the file has %d lines, want it shortened", l2.lines)
	}
}

// A rewrite that starts on the first event after the host started, its
// line not written (a full disk), takes what was appended meanwhile from
// the file's end, not from its start: an O_APPEND file's offset is 0 until
// a write moves it, and from there every event was copied in twice.
func TestCompactAfterAFailedFirstWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	var lines []string
	for i := 1; i <= 6; i++ {
		lines = append(lines, fmt.Sprintf(`{"Seq":%d,"JobID":%d,"To":"Running","Owner":0}`, i, i))
	}
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	l := open(t, path, 2)
	l.f.Close()
	ro, err := os.Open(path) // writes fail, as on a full disk
	if err != nil {
		t.Fatal(err)
	}
	l.f = ro
	l.append(Record{Event: api.Event{JobID: 7, From: api.NotStarted, To: api.Running}})
	l.mu.Lock()
	l.awaitCompactionLocked()
	l.mu.Unlock()
	kill(l)

	l2 := open(t, path, 100)
	rs, _ := l2.after(0)
	got := seqs(rs)
	slices.Sort(got)
	if len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("events after the rewrite: %v; each should be there once", got)
	}
}
