package host

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
)

func TestReceiveDrainAndKeep(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("echo one; echo two >&2; write-warning three")
	th.wait("1")
	if j := th.job("1"); j.State != api.Completed || !j.HasMoreData {
		t.Fatalf("job is %s, HasMoreData %v; want Completed, true", j.State, j.HasMoreData)
	}
	want := []string{"one", "two", "three"}
	for i := 0; i < 2; i++ {
		got := th.receive([]string{"1"}, ReceiveOptions{Keep: true})
		if !equalStrings(got.texts(), want) {
			t.Fatalf("receive --keep #%d: %q, want %q", i+1, got.texts(), want)
		}
		streams := []sdk.Stream{got.lines[0].stream, got.lines[1].stream, got.lines[2].stream}
		if streams[0] != sdk.Output || streams[1] != sdk.Error || streams[2] != sdk.Warning {
			t.Errorf("streams %v", streams)
		}
		if !th.job("1").HasMoreData {
			t.Fatal("receive --keep cleared HasMoreData")
		}
	}
	got := th.receive([]string{"1"}, ReceiveOptions{})
	if !equalStrings(got.texts(), want) {
		t.Fatalf("receive: %q, want %q", got.texts(), want)
	}
	for i, l := range got.lines {
		if l.job != 1 || l.seq != uint64(i+1) {
			t.Errorf("record %d: job %d seq %d, want job 1 seq %d", i, l.job, l.seq, i+1)
		}
	}
	if th.job("1").HasMoreData {
		t.Error("HasMoreData is still true after a draining receive")
	}
	if got := th.receive([]string{"1"}, ReceiveOptions{}); len(got.lines) != 0 {
		t.Errorf("a second receive got %q", got.texts())
	}
	if got := th.receive([]string{"1"}, ReceiveOptions{Keep: true}); len(got.lines) != 0 {
		t.Errorf("receive --keep after draining got %q", got.texts())
	}
}

func TestReceiveSeveralJobsInIDOrder(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("echo a1; echo a2", named("a"))
	th.start("echo b1", named("b"))
	th.wait("*")
	got := th.receive([]string{"b", "a"}, ReceiveOptions{})
	var desc []string
	for _, l := range got.lines {
		desc = append(desc, fmt.Sprintf("%d:%s", l.job, l.text))
	}
	if want := []string{"1:a1", "1:a2", "2:b1"}; !equalStrings(desc, want) {
		t.Errorf("received %q, want %q", desc, want)
	}
}

func TestReceiveOptionConflicts(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("echo x")
	th.wait("1")
	ctx := context.Background()
	s := &sink{}
	wantCode(t, "Keep+Wait", th.Receive(ctx, []string{"1"}, ReceiveOptions{Keep: true, Wait: true}, s), api.ExitUsage)
	wantCode(t, "AutoRemove without Wait", th.Receive(ctx, []string{"1"}, ReceiveOptions{AutoRemove: true}, s), api.ExitUsage)
	wantCode(t, "Keep+AutoRemove", th.Receive(ctx, []string{"1"}, ReceiveOptions{Keep: true, AutoRemove: true}, s), api.ExitUsage)
	if len(s.lines) != 0 {
		t.Errorf("refused receives passed on %q", s.texts())
	}
	// The refused calls neither drained nor removed anything.
	if j := th.job("1"); !j.HasMoreData {
		t.Error("a refused receive drained the job")
	}
}

// checkSequence checks that lines are want lines "<prefix><i>", i from 1,
// numbered from seq 1 on without a gap.
func checkSequence(t *testing.T, lines []line, n int, prefix string) {
	t.Helper()
	if len(lines) != n {
		t.Errorf("received %d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%s%d", prefix, i+1); l.text != want {
			t.Fatalf("line %d is %q, want %q", i, l.text, want)
		}
		if l.seq != uint64(i+1) {
			t.Fatalf("line %d (%q) has seq %d, want %d", i, l.text, l.seq, i+1)
		}
		if l.stream != sdk.Output {
			t.Fatalf("line %d has stream %v", i, l.stream)
		}
	}
}

func TestReceiveWaitStreamsEverything(t *testing.T) {
	const n = 10000
	th := openHost(t, "", Options{})
	scripts := map[string]string{
		// One write, so one chunk record, per line.
		"builtin echo": fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line$i; i=$((i+1)); done", n),
		// An external command's output arrives in large chunks.
		"external": fmt.Sprintf("seq -f line%%g 1 %d", n),
	}
	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			j := th.start(script)
			sel := []string{fmt.Sprint(j.ID)}
			got := th.receive(sel, ReceiveOptions{Wait: true})
			checkSequence(t, got.lines, n, "line")
			if got.flushes == 0 {
				t.Error("Receive never flushed the sink")
			}
			fin := th.job(sel[0])
			if fin.State != api.Completed || fin.HasMoreData {
				t.Errorf("after receive --wait the job is %s, HasMoreData %v", fin.State, fin.HasMoreData)
			}
			if again := th.receive(sel, ReceiveOptions{}); len(again.lines) != 0 {
				t.Errorf("a receive after receive --wait got %d more lines", len(again.lines))
			}
		})
	}
}

func TestReceiveWaitAfterPartialDrain(t *testing.T) {
	th := openHost(t, "", Options{})
	dir := t.TempDir()
	th.start("echo first; while [ ! -e go ]; do sleep 0.02; done; echo second", func(r *api.StartRequest) { r.Workdir = dir })
	th.waitOutput("1", "first")
	if got := th.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"first"}) {
		t.Fatalf("first receive %q", got)
	}
	done := make(chan *sink, 1)
	go func() {
		s := &sink{}
		err := th.Receive(context.Background(), []string{"1"}, ReceiveOptions{Wait: true}, s)
		if err != nil {
			t.Errorf("Receive --wait: %v", err)
		}
		done <- s
	}()
	touch(t, dir, "go")
	select {
	case s := <-done:
		if got := s.texts(); !equalStrings(got, []string{"second"}) {
			t.Errorf("receive --wait after a drain got %q, want [second]", got)
		}
		if len(s.lines) == 1 && s.lines[0].seq != 2 {
			t.Errorf("second line has seq %d, want 2", s.lines[0].seq)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("receive --wait did not return within 30s of the job's end")
	}
}

func TestReceiveWaitCancelled(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("echo up; sleep 1000")
	th.waitOutput("1", "up")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	s := &sink{}
	go func() { errc <- th.Receive(ctx, []string{"1"}, ReceiveOptions{Wait: true}, s) }()
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
	if got := s.texts(); !equalStrings(got, []string{"up"}) {
		t.Errorf("received %q", got)
	}
	// What it passed on is drained, even though the call failed.
	if got := th.receive([]string{"1"}, ReceiveOptions{}); len(got.lines) != 0 {
		t.Errorf("records passed to a cancelled receive came again: %q", got.texts())
	}
}

func TestReceiveAutoRemove(t *testing.T) {
	th := openHost(t, "", Options{})
	th.start("echo a; sleep 0.2; echo b", named("ar"))
	th.start("echo keepme", named("other"))
	got := th.receive([]string{"ar"}, ReceiveOptions{Wait: true, AutoRemove: true})
	if !equalStrings(got.texts(), []string{"a", "b"}) {
		t.Errorf("received %q", got.texts())
	}
	_, err := th.Jobs([]string{"ar"}, nil)
	wantCode(t, "Jobs after auto-remove", err, api.ExitNotFound)
	_, err = th.Jobs([]string{"1"}, nil)
	wantCode(t, "Jobs(1) after auto-remove", err, api.ExitNotFound)
	if js, _ := th.Jobs(nil, nil); !idsEqual(ids(js), 2) {
		t.Errorf("jobs left: %v, want [2]", ids(js))
	}
	if _, err := statLog(th, 1); err == nil {
		t.Error("the removed job's record log is still there")
	}
}

func statLog(th *testHost, id uint64) (int64, error) {
	fi, err := os.Stat(th.logPath(id))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func TestReceiveMessageRecords(t *testing.T) {
	// Records that are not chunks (typed output, error details) go to the
	// sink with their fields.
	th := openHost(t, "", Options{})
	th.start(`write-output --type System.Int32 42; write-error --category InvalidData --error-id E1 bad; write-information --tags a,b info`)
	th.wait("1")
	var recs []string
	s := &funcSink{fn: func(id uint64, r *sdk.Record) {
		var b strings.Builder
		fmt.Fprintf(&b, "%d %d %s %q %q", id, r.Seq, sdk.StreamNames[r.Stream], r.Message, r.TypeName)
		if r.Error != nil {
			fmt.Fprintf(&b, " %s/%s", r.Error.Category, r.Error.ErrorId)
		}
		if r.Information != nil {
			fmt.Fprintf(&b, " %v", r.Information.Tags)
		}
		recs = append(recs, b.String())
	}}
	if err := th.Receive(context.Background(), []string{"1"}, ReceiveOptions{}, s); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`1 1 output "42" "System.Int32"`,
		`1 2 error "bad" "" InvalidData/E1`,
		`1 3 information "info" "" [a b]`,
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
	th := openHost(t, "", Options{})
	th.start("echo a; echo b")
	th.wait("1")
	boom := fmt.Errorf("sink broke")
	err := th.Receive(context.Background(), []string{"1"}, ReceiveOptions{}, &funcSinkErr{err: boom})
	if err != boom {
		t.Fatalf("Receive returned %v, want the sink's error", err)
	}
	// A receive that failed drained nothing.
	if got := th.receive([]string{"1"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"a", "b"}) {
		t.Errorf("after a failed receive, receive got %q, want [a b]", got)
	}
}

type funcSinkErr struct{ err error }

func (s *funcSinkErr) Record(uint64, *sdk.Record) error { return s.err }
func (s *funcSinkErr) Flush() error                     { return nil }

// A `receive --wait` whose caller has stopped reading (a paused pager, say)
// must not hold up the job: stopping the job still ends it within the stop
// grace and its margin.
func TestStalledReceiverDoesNotBlockStop(t *testing.T) {
	const grace = 200 * time.Millisecond
	th := openHost(t, "", Options{StopGrace: grace})
	dir := t.TempDir()
	th.start("echo first; while [ ! -e go ]; do sleep 0.02; done; echo second; sleep 1000", func(r *api.StartRequest) { r.Workdir = dir })
	th.waitOutput("1", "first")

	release := make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unstall)
	stalled := make(chan struct{}, 1)
	s := &funcSink{fn: func(_ uint64, r *sdk.Record) {
		if strings.Contains(string(r.Chunk), "second") {
			stalled <- struct{}{}
			<-release // the caller stops reading
		}
	}}
	recvDone := make(chan error, 1)
	go func() { recvDone <- th.Receive(context.Background(), []string{"1"}, ReceiveOptions{Wait: true}, s) }()
	// Once the receiver has caught up and waits for more, the job goes on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		th.Host.mu.Lock()
		waiting := th.Host.jobs[1].waiter != nil
		th.Host.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receiver did not catch up within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	touch(t, dir, "go")
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not get the second line within 10s")
	}

	ctx, cancel := context.WithTimeout(context.Background(), grace+5*time.Second+3*time.Second)
	defer cancel()
	js, err := th.Stop(ctx, []string{"1"})
	if err != nil {
		t.Errorf("Stop while a receiver is stalled: %v (the relay is blocked handing a batch to the stalled receiver, so the job's end is never read)", err)
	} else if js[0].State != api.Stopped {
		t.Errorf("job is %s", js[0].State)
	}
	unstall()
	select {
	case <-recvDone:
	case <-time.After(20 * time.Second):
		t.Error("the receiver did not return within 20s of being unstalled")
	}
}
