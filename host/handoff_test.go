package host

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/sdk"
)

type recordFunc func(uint64, *sdk.Record)

func (f recordFunc) Record(id uint64, r *sdk.Record) error { f(id, r); return nil }
func (f recordFunc) Flush() error                          { return nil }

// A `receive --wait` whose caller has stopped reading (a paused pager, say)
// must not hold up the job: with the receiver caught up, the relay hands it
// the next batch directly (handOff), and a stop still ends the job within
// the stop grace and its margin.
func TestStalledReceiverDoesNotBlockStop(t *testing.T) {
	l := fakert.New()
	h, err := Open(Options{Home: t.TempDir(), Runtimes: fakert.Catalog(t), Launcher: l, StopGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Start(context.Background(), &api.StartRequest{Script: "echo first; wait go; echo second; sleep", Workdir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	defer unstall()
	stalled := make(chan struct{}, 1)
	sink := recordFunc(func(_ uint64, r *sdk.Record) {
		if strings.Contains(string(r.Chunk), "second") {
			stalled <- struct{}{}
			<-release // the caller stops reading
		}
	})
	recvDone := make(chan error, 1)
	go func() { recvDone <- h.Receive(context.Background(), []string{"1"}, ReceiveOptions{Wait: true}, sink) }()
	// Once the receiver has caught up and waits for more, the job goes on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := h.t.Get(1)
		h.t.Lock()
		waiting := j.Waiter != nil
		h.t.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receiver did not catch up within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	l.Open("go")
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not get the second line within 10s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := h.Stop(ctx, []string{"1"})
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
