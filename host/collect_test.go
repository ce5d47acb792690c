package host

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/sdk"
)

// A job whose collector (start --wait; receive --wait --auto-remove) has
// all of it is removed without its end ever being written: one commit
// after the start, the row's deletion. A collector that goes away before
// the end leaves the job to be written as any other, and a later host
// finds it ended.
func TestCollectedJobEnd(t *testing.T) {
	home := t.TempDir()
	l := fakert.New()
	h, err := Open(Options{Home: home, Runtimes: fakert.Catalog(t), Launcher: l})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got []string
	sink := recordFunc(func(_ uint64, r *sdk.Record) { got = append(got, strings.TrimSpace(string(r.Chunk))) })

	// The job waits for its collector: one that ended before the
	// collector came would rightly have its end written.
	j, err := h.Start(ctx, &api.StartRequest{Script: "wait first; echo hi", Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	before := h.t.Commits()
	received := make(chan error, 1)
	go func() { received <- h.Receive(ctx, []string{"1"}, ReceiveOptions{Wait: true, AutoRemove: true}, sink) }()
	awaitCollector(t, h, j.ID)
	l.Open("first")
	if err := <-received; err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "hi" {
		t.Errorf("received %q, want hi", got)
	}
	if h.t.Get(j.ID) != nil {
		t.Errorf("job %d is still in the table after its collector ended", j.ID)
	}
	// The row's deletion is the only commit; the relay may still be
	// acknowledging the end, so allow it a moment to write anything else.
	time.Sleep(100 * time.Millisecond)
	if n := h.t.Commits() - before; n != 1 {
		t.Errorf("%d commits from the start to the job's removal, want 1 (the deletion; the end is not written)", n)
	}

	// A collector that goes away: the end is written after all.
	j2, err := h.Start(ctx, &api.StartRequest{Script: "wait go; echo later", Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- h.Receive(rctx, []string{"2"}, ReceiveOptions{Wait: true, AutoRemove: true}, recordFunc(func(uint64, *sdk.Record) {}))
	}()
	awaitCollector(t, h, j2.ID)
	cancel()
	<-done
	l.Open("go")
	if js := awaitJobs(t, h, "2"); js[0].State != api.Completed {
		t.Fatalf("job 2 is %s, want Completed", js[0].State)
	}
	h.Close()
	h2, err := Open(Options{Home: home, Runtimes: fakert.Catalog(t), Launcher: fakert.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	js, err := h2.Jobs(ctx, []string{"*"}, nil)
	if err != nil || len(js) != 1 || js[0].ID != j2.ID || js[0].State != api.Completed {
		t.Fatalf("after a restart: %v, %v; want job %d Completed alone", js, err, j2.ID)
	}
	var later []string
	if err := h2.Receive(ctx, []string{"2"}, ReceiveOptions{}, recordFunc(func(_ uint64, r *sdk.Record) { later = append(later, strings.TrimSpace(string(r.Chunk))) })); err != nil {
		t.Fatal(err)
	}
	if strings.Join(later, ",") != "later" {
		t.Errorf("job 2's records after a restart: %q, want later", later)
	}
}

// awaitCollector waits for job id to have a collector, waiting for its
// next records.
func awaitCollector(t *testing.T, h *Host, id uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		j := h.t.Get(id)
		h.t.Lock()
		// Waiting for the job's next records too (await's offer): one
		// that came before would go to the log, and the collector that
		// has not read it yet at the end has the end written.
		c, waiting := j.Collectors, j.Waiter != nil
		h.t.Unlock()
		if c > 0 && waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d had no collector waiting for its records within 10s", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// awaitJobs waits for the selected jobs to finish.
func awaitJobs(t *testing.T, h *Host, sel ...string) []*api.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := h.Wait(ctx, sel, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// A call that acted on jobs answers with those still there: a job its own
// caller removed meanwhile (a stopped start --wait job) is left out, not
// an error, as the stop that raced that removal was done.
func TestJobsOfSkipsRemoved(t *testing.T) {
	h, err := Open(Options{Home: t.TempDir(), Runtimes: fakert.Catalog(t), Launcher: fakert.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx := context.Background()
	var ids []string
	for range 2 {
		j, err := h.Start(ctx, &api.StartRequest{Script: "echo hi", Workdir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strconv.FormatUint(j.ID, 10))
	}
	if _, err := h.Wait(ctx, ids, false, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove(ctx, ids[:1], false); err != nil {
		t.Fatal(err)
	}
	js, err := h.jobsOf(ctx, ids, nil)
	if err != nil || len(js) != 1 || strconv.FormatUint(js[0].ID, 10) != ids[1] {
		t.Fatalf("jobsOf(%v) with %s removed = %v, %v; want job %s alone", ids, ids[0], js, err, ids[1])
	}
	if js, err := h.jobsOf(ctx, ids[:1], nil); err != nil || len(js) != 0 {
		t.Errorf("jobsOf of a removed job alone = %v, %v; want none, no error", js, err)
	}
}
