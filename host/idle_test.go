package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/sdk"
)

// A host is idle with no jobs, busy while a job runs or waits in the
// queue, and idle again once they have finished; a receive draining a
// finished job's records keeps it busy until it returns.
func TestIdle(t *testing.T) {
	th, l := fakeWithLauncher(t, maxRunning(1))
	if !th.Idle() {
		t.Fatal("a host with no jobs is not idle")
	}
	th.Start("wait g; echo done", named("Run"))
	th.Start("echo queued", named("Queued"))
	if th.Idle() {
		t.Error("a host with a running and a queued job is idle")
	}
	if st := th.Job("Queued").State; st != "NotStarted" {
		t.Fatalf("Queued is %s, want NotStarted (one job runs at a time)", st)
	}
	l.Open("g")
	th.Await("Run", "Queued")
	if !th.Idle() {
		t.Error("a host whose jobs have all finished is not idle")
	}

	// A stopped job counts as finished.
	th.Start("sleep", named("Sleeper"))
	if th.Idle() {
		t.Error("a host with a sleeping job is idle")
	}
	if _, err := th.Stop(context.Background(), []string{"Sleeper"}); err != nil {
		t.Fatal(err)
	}
	if !th.Idle() {
		t.Error("a host whose last job was stopped is not idle")
	}

	// A receive in progress on a finished job, its sink held up.
	sink := &heldSink{got: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- th.Receive(context.Background(), []string{"Run"}, host.ReceiveOptions{}, sink) }()
	select {
	case <-sink.got:
	case <-time.After(20 * time.Second):
		t.Fatal("the receive passed on no record")
	}
	if th.Idle() {
		t.Error("a host with a receive in progress is idle")
	}
	close(sink.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !th.Idle() {
		t.Error("a host whose receive has returned is not idle")
	}
}

// heldSink signals its first record and holds it until released.
type heldSink struct {
	got, release chan struct{}
	n            int
}

func (s *heldSink) Record(uint64, *sdk.Record) error {
	if s.n++; s.n == 1 {
		close(s.got)
		<-s.release
	}
	return nil
}

func (s *heldSink) Flush() error { return nil }
