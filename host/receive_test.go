package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
	"github.com/bgjob/bgjob/sdk"
)

func TestReceiveDrainAndKeep(t *testing.T) {
	th := fake(t)
	th.Start("echo one; echoerr two; warn three")
	th.Await("1")
	if j := th.Job("1"); j.State != api.Completed || !j.HasMoreData {
		t.Fatalf("job is %s, HasMoreData %v; want Completed, true", j.State, j.HasMoreData)
	}
	want := []string{"one", "two", "three"}
	for i := 0; i < 2; i++ {
		got := th.Take([]string{"1"}, host.ReceiveOptions{Keep: true})
		if !equalStrings(got.Texts(), want) {
			t.Fatalf("receive --keep #%d: %q, want %q", i+1, got.Texts(), want)
		}
		streams := []sdk.Stream{got.Lines[0].Stream, got.Lines[1].Stream, got.Lines[2].Stream}
		if streams[0] != sdk.Output || streams[1] != sdk.Error || streams[2] != sdk.Warning {
			t.Errorf("streams %v", streams)
		}
		if !th.Job("1").HasMoreData {
			t.Fatal("receive --keep cleared HasMoreData")
		}
	}
	got := th.Take([]string{"1"}, host.ReceiveOptions{})
	if !equalStrings(got.Texts(), want) {
		t.Fatalf("receive: %q, want %q", got.Texts(), want)
	}
	for i, l := range got.Lines {
		if l.Job != 1 || l.Seq != uint64(i+1) {
			t.Errorf("record %d: job %d seq %d, want job 1 seq %d", i, l.Job, l.Seq, i+1)
		}
	}
	if th.Job("1").HasMoreData {
		t.Error("HasMoreData is still true after a draining receive")
	}
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}); len(got.Lines) != 0 {
		t.Errorf("a second receive got %q", got.Texts())
	}
	if got := th.Take([]string{"1"}, host.ReceiveOptions{Keep: true}); len(got.Lines) != 0 {
		t.Errorf("receive --keep after draining got %q", got.Texts())
	}
}

func TestReceiveSeveralJobsInIDOrder(t *testing.T) {
	th := fake(t)
	th.Start("echo a1; echo a2", named("a"))
	th.Start("echo b1", named("b"))
	th.Await("*")
	got := th.Take([]string{"b", "a"}, host.ReceiveOptions{})
	var desc []string
	for _, l := range got.Lines {
		desc = append(desc, fmt.Sprintf("%d:%s", l.Job, l.Text))
	}
	if want := []string{"1:a1", "1:a2", "2:b1"}; !equalStrings(desc, want) {
		t.Errorf("received %q, want %q", desc, want)
	}
}

// receive --wait --keep follows a job, tail -f style: what it prints
// arrives as it comes, and nothing is consumed.
func TestReceiveFollow(t *testing.T) {
	th, l := fakeWithLauncher(t)
	th.Start("echo a; wait g; echo b", named("f"))
	got := make(chan *hosttest.Sink, 1)
	go func() { got <- th.Take([]string{"f"}, host.ReceiveOptions{Keep: true, Wait: true}) }()
	th.WaitOutput("f", "a")
	l.Open("g")
	s := <-got
	if texts := s.Texts(); !equalStrings(texts, []string{"a", "b"}) {
		t.Errorf("following received %q, want a and b", texts)
	}
	if j := th.Job("f"); !j.HasMoreData {
		t.Error("following consumed the records")
	}
	if texts := th.Take([]string{"f"}, host.ReceiveOptions{}).Texts(); !equalStrings(texts, []string{"a", "b"}) {
		t.Errorf("a receive after following got %q", texts)
	}
}

// receive --wait of several jobs passes each job's records on as they
// come, not job after job: the second job's line arrives while the first
// still waits.
func TestReceiveInterleaves(t *testing.T) {
	th, l := fakeWithLauncher(t)
	th.Start("echo a1; wait ga; echo a2", named("a"))
	th.Start("wait gb; echo b1", named("b"))
	s := &hosttest.Sink{}
	done := make(chan error, 1)
	go func() {
		done <- th.Receive(context.Background(), []string{"a", "b"}, host.ReceiveOptions{Wait: true}, s)
	}()
	waitTexts := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(s.Texts()) < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("received %q, want %d lines by now", s.Texts(), n)
			}
		}
	}
	waitTexts(1) // a1
	l.Open("gb")
	waitTexts(2) // b1, while a still waits
	l.Open("ga")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, line := range s.Lines {
		desc = append(desc, fmt.Sprintf("%d:%s", line.Job, line.Text))
	}
	if want := []string{"1:a1", "2:b1", "1:a2"}; !equalStrings(desc, want) {
		t.Errorf("received %q, want %q (as they came)", desc, want)
	}
}

func TestReceiveOptionConflicts(t *testing.T) {
	th := fake(t)
	th.Start("echo x")
	th.Await("1")
	ctx := context.Background()
	s := &hosttest.Sink{}
	wantKind(t, "AutoRemove without Wait", th.Receive(ctx, []string{"1"}, host.ReceiveOptions{AutoRemove: true}, s), host.ErrBadRequest)
	wantKind(t, "Keep+AutoRemove", th.Receive(ctx, []string{"1"}, host.ReceiveOptions{Keep: true, AutoRemove: true}, s), host.ErrBadRequest)
	if len(s.Lines) != 0 {
		t.Errorf("refused receives passed on %q", s.Texts())
	}
	// The refused calls neither drained nor removed anything.
	if j := th.Job("1"); !j.HasMoreData {
		t.Error("a refused receive drained the job")
	}
}

// checkSequence checks that lines are "<prefix><i>", i from 1, numbered
// from seq 1 on without a gap.
func checkSequence(t *testing.T, lines []hosttest.Line, n int, prefix string) {
	t.Helper()
	if len(lines) != n {
		t.Errorf("received %d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%s%d", prefix, i+1); l.Text != want {
			t.Fatalf("line %d is %q, want %q", i, l.Text, want)
		}
		if l.Seq != uint64(i+1) {
			t.Fatalf("line %d (%q) has seq %d, want %d", i, l.Text, l.Seq, i+1)
		}
		if l.Stream != sdk.Output {
			t.Fatalf("line %d has stream %v", i, l.Stream)
		}
	}
}

func TestReceiveWaitStreamsEverything(t *testing.T) {
	const n = 50000
	th := fake(t)
	j := th.Start(fmt.Sprintf("lines %d line", n))
	sel := []string{fmt.Sprint(j.ID)}
	got := th.Take(sel, host.ReceiveOptions{Wait: true})
	checkSequence(t, got.Lines, n, "line")
	if got.Flushes == 0 {
		t.Error("Receive never flushed the sink")
	}
	fin := th.Job(sel[0])
	if fin.State != api.Completed || fin.HasMoreData {
		t.Errorf("after receive --wait the job is %s, HasMoreData %v", fin.State, fin.HasMoreData)
	}
	if again := th.Take(sel, host.ReceiveOptions{}); len(again.Lines) != 0 {
		t.Errorf("a receive after receive --wait got %d more lines", len(again.Lines))
	}
}

func TestReceiveWaitAfterPartialDrain(t *testing.T) {
	th, l := fakeWithLauncher(t)
	th.Start("echo first; wait go; echo second")
	th.WaitOutput("1", "first")
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"first"}) {
		t.Fatalf("first receive %q", got)
	}
	done := make(chan *hosttest.Sink, 1)
	go func() {
		s := &hosttest.Sink{}
		err := th.Receive(context.Background(), []string{"1"}, host.ReceiveOptions{Wait: true}, s)
		if err != nil {
			t.Errorf("Receive --wait: %v", err)
		}
		done <- s
	}()
	l.Open("go")
	select {
	case s := <-done:
		if got := s.Texts(); !equalStrings(got, []string{"second"}) {
			t.Errorf("receive --wait after a drain got %q, want [second]", got)
		}
		if len(s.Lines) == 1 && s.Lines[0].Seq != 2 {
			t.Errorf("second line has seq %d, want 2", s.Lines[0].Seq)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("receive --wait did not return within 30s of the job's end")
	}
}

func TestReceiveWaitCancelled(t *testing.T) {
	th := fake(t)
	th.Start("echo up; sleep")
	th.WaitOutput("1", "up")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	s := &hosttest.Sink{}
	go func() { errc <- th.Receive(ctx, []string{"1"}, host.ReceiveOptions{Wait: true}, s) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if err != context.Canceled {
			t.Errorf("a cancelled receive --wait returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("receive --wait did not return after its context was cancelled")
	}
	if got := s.Texts(); !equalStrings(got, []string{"up"}) {
		t.Errorf("received %q", got)
	}
	// What it passed on is drained, even though the call failed.
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}); len(got.Lines) != 0 {
		t.Errorf("records passed to a cancelled receive came again: %q", got.Texts())
	}
}

func TestReceiveAutoRemove(t *testing.T) {
	th, l := fakeWithLauncher(t)
	th.Start("echo a; wait b; echo b", named("ar"))
	th.Start("echo keepme", named("other"))
	time.AfterFunc(50*time.Millisecond, func() { l.Open("b") })
	got := th.Take([]string{"ar"}, host.ReceiveOptions{Wait: true, AutoRemove: true})
	if !equalStrings(got.Texts(), []string{"a", "b"}) {
		t.Errorf("received %q", got.Texts())
	}
	_, err := th.Jobs(context.Background(), []string{"ar"}, nil)
	wantKind(t, "Jobs after auto-remove", err, host.ErrNotFound)
	_, err = th.Jobs(context.Background(), []string{"1"}, nil)
	wantKind(t, "Jobs(1) after auto-remove", err, host.ErrNotFound)
	if js, _ := th.Jobs(context.Background(), nil, nil); !idsEqual(ids(js), 2) {
		t.Errorf("jobs left: %v, want [2]", ids(js))
	}
	if _, err := os.Stat(filepath.Join(th.Dir, "jobs", "1.log")); err == nil {
		t.Error("the removed job's record log is still there")
	}
}

func TestReceiveMessageRecords(t *testing.T) {
	// Records that are not chunks (typed output, error details) go to the
	// sink with their fields.
	th := fake(t)
	th.Start(`output System.Int32 42; progress 50 copying; info hello there`)
	th.Await("1")
	var recs []string
	s := &funcSink{fn: func(id uint64, r *sdk.Record) {
		var b strings.Builder
		fmt.Fprintf(&b, "%d %d %s %q %q", id, r.Seq, sdk.StreamNames[r.Stream], r.Message, r.TypeName)
		if r.Progress != nil {
			fmt.Fprintf(&b, " %d%% %s", r.Progress.Percent, r.Progress.Activity)
		}
		if r.Information != nil {
			fmt.Fprintf(&b, " %v", r.Information.Tags)
		}
		recs = append(recs, b.String())
	}}
	if err := th.Receive(context.Background(), []string{"1"}, host.ReceiveOptions{}, s); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`1 1 output "42" "System.Int32"`,
		`1 2 progress "" "" 50% copying`,
		`1 3 information "hello there" "" [fake]`,
	}
	if !equalStrings(recs, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(recs, "\n"), strings.Join(want, "\n"))
	}
}

type funcSink struct {
	fn func(uint64, *sdk.Record)
}

func (s *funcSink) Record(id uint64, r *sdk.Record) error { s.fn(id, r); return nil }
func (s *funcSink) Flush() error                          { return nil }

func TestReceiveSinkErrorKeepsRecords(t *testing.T) {
	th := fake(t)
	th.Start("echo a; echo b")
	th.Await("1")
	boom := fmt.Errorf("sink broke")
	err := th.Receive(context.Background(), []string{"1"}, host.ReceiveOptions{}, &funcSinkErr{err: boom})
	if err != boom {
		t.Fatalf("Receive returned %v, want the sink's error", err)
	}
	// A receive that failed drained nothing.
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"a", "b"}) {
		t.Errorf("after a failed receive, receive got %q, want [a b]", got)
	}
}

type funcSinkErr struct{ err error }

func (s *funcSinkErr) Record(uint64, *sdk.Record) error { return s.err }
func (s *funcSinkErr) Flush() error                     { return nil }

// A finished job's log that was cut short, or deleted, is an error that
// says so, after the records that could be read, not a quiet short answer.
func TestReceiveDamagedLog(t *testing.T) {
	th := fake(t)
	th.Start("echo a; echo b; echo c")
	// More than a row keeps (TestRealFewRecordsKeptInTheRow): a file.
	th.Start("echo " + strings.Repeat("x", 2000))
	th.Await("*")
	logPath := filepath.Join(th.Dir, "jobs", "1.log")
	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(logPath, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	s := &hosttest.Sink{}
	err = th.Receive(context.Background(), []string{"1"}, host.ReceiveOptions{Keep: true}, s)
	wantKind(t, "receive of a truncated log", err, host.ErrDamaged)
	if got := s.Texts(); !equalStrings(got, []string{"a", "b"}) {
		t.Errorf("before the damage: %q", got)
	}
	os.Remove(filepath.Join(th.Dir, "jobs", "2.log"))
	err = th.Receive(context.Background(), []string{"2"}, host.ReceiveOptions{}, &hosttest.Sink{})
	wantKind(t, "receive of a deleted log", err, host.ErrDamaged)
	if err != nil && !strings.Contains(err.Error(), "missing") {
		t.Errorf("the error %q does not say the log is missing", err)
	}
}

// --state narrows stop, remove and wait, without regard to case; remove
// '*' removes what is finished and reports what is not.
func TestStateFilters(t *testing.T) {
	th, _ := fakeWithLauncher(t)
	ctx := context.Background()
	th.Start("echo a", named("done"))
	th.Start("exit 3", named("failed"))
	th.Start("wait never", named("running"))
	th.Await("done", "failed")
	if err := th.Remove(ctx, nil, false, host.InState("COMPLETED")); err != nil {
		t.Fatal(err)
	}
	if js, _ := th.Jobs(ctx, nil, nil); !idsEqual(ids(js), 2, 3) {
		t.Errorf("remove --state completed left %v, want 2 3", ids(js))
	}
	err := th.Remove(ctx, []string{"*"}, false)
	wantKind(t, "remove * with a running job", err, host.ErrNotFinished)
	if err == nil || !strings.Contains(err.Error(), "job 3 (running, Running) is not finished and was left") {
		t.Errorf("remove *: %v", err)
	}
	if js, _ := th.Jobs(ctx, nil, nil); !idsEqual(ids(js), 3) {
		t.Errorf("remove * left %v, want only the running job", ids(js))
	}
	if js, err := th.Wait(ctx, nil, false, 0, host.InState("completed")); err != nil || len(js) != 0 {
		t.Errorf("wait --state completed with none: %v %v", ids(js), err)
	}
	js, err := th.Stop(ctx, nil, host.InState("running"))
	if err != nil || !idsEqual(ids(js), 3) || js[0].State != api.Stopped {
		t.Errorf("stop --state running: %v %v", js, err)
	}
	_, err = th.Stop(ctx, nil, host.InState("sleepy"))
	wantKind(t, "an unknown state", err, host.ErrBadRequest)
}

// A receive reading a job's records while the job fails and runs again
// (--retries): the new attempt's records start afresh at 0, and the
// receive, done with the earlier attempt's, must not move the new
// attempt's read offset past them (a later receive then missed them).
func TestReceiveAcrossARetry(t *testing.T) {
	th, _ := receiveAcrossARetry(t, host.ReceiveOptions{})
	if got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"a", "b"}) {
		t.Errorf("the last attempt's records received after: %q, want [a b]", got)
	}
}

// A receive that keeps the records and follows the job (--keep --wait)
// across a retry reads the new attempt's records from their start: it
// gets the first attempt's "a" it was reading, then the retry's "a" and
// "b". (Kept at the first attempt's offset, it read the retry's log from
// there, and missed its "a".)
func TestReceiveKeepFollowsARetry(t *testing.T) {
	_, s := receiveAcrossARetry(t, host.ReceiveOptions{Keep: true, Wait: true})
	if got := s.texts; !equalStrings(got, []string{"a", "a", "b"}) {
		t.Errorf("followed across the retry: %q, want [a a b] (the first attempt's a, then the retry's)", got)
	}
}

// receiveAcrossARetry starts a job that prints a, waits, prints b and
// fails, with one retry, and receives it with o, the receive held at its
// first record until the job has failed its last attempt. It returns the
// host and what the receive got.
func receiveAcrossARetry(t *testing.T, o host.ReceiveOptions) (*hosttest.Host, *pausedSink) {
	t.Helper()
	th, l := fakeWithLauncher(t)
	th.Start("echo a; wait go; echo b; exit 1", func(r *api.StartRequest) { r.Retries = 1 })
	th.WaitOutput("1", "a")
	s := &pausedSink{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- th.Receive(context.Background(), []string{"1"}, o, s) }()
	<-s.entered // reading the first attempt's log
	l.Open("go")
	waitJobState(t, th, "1", api.Failed)
	close(s.release)
	// A receive that follows the job to its end says it failed.
	if err := <-done; err != nil && !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("the receive across the retry: %v", err)
	}
	return th, s
}

// pausedSink holds its first record until released.
type pausedSink struct {
	once             sync.Once
	entered, release chan struct{}
	texts            []string // the output records' texts
}

func (s *pausedSink) Record(_ uint64, r *sdk.Record) error {
	s.once.Do(func() { close(s.entered); <-s.release })
	if r.Stream == sdk.Output {
		s.texts = append(s.texts, strings.TrimSuffix(string(r.Chunk), "\n"))
	}
	return nil
}
func (s *pausedSink) Flush() error { return nil }
