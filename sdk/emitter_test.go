package sdk

import (
	"fmt"
	"sync"
	"testing"
)

func TestEmitterWriters(t *testing.T) {
	s := testSpool(1<<20, 1<<20)
	e := newEmitter(s, false)

	// One writer per stream, whoever asks, concurrently or not.
	var wg sync.WaitGroup
	got := make([]any, 16)
	for i := range got {
		wg.Go(func() { got[i] = e.Writer(Output) })
	}
	wg.Wait()
	for i, w := range got {
		if w != got[0] {
			t.Fatalf("Writer(Output) call %d returned another writer", i)
		}
	}
	if e.Writer(Error) == got[0] {
		t.Fatal("Writer(Error) returned the Output writer")
	}

	// Two commands sharing a stream share its unfinished line.
	fmt.Fprint(e.Writer(Output), "out ")
	fmt.Fprint(e.Writer(Output), "line\nwaiting")
	if err := e.Emit(NewMessage(Verbose, "direct")); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(e.Writer(Warning), "warn")
	fmt.Fprint(e.Writer(Error), "err")
	fmt.Fprint(e.Writer(Debug), "") // a writer with nothing waiting
	e.flush()
	e.flush() // nothing left the second time

	s.finish(&Done{State: Completed})
	batches := collect(t, s, 0)
	var recs []*Record
	for _, b := range batches[:len(batches)-1] {
		recs = append(recs, checkBatch(t, b)...)
	}
	type rec struct {
		seq    uint64
		stream Stream
		text   string
	}
	var have []rec
	for _, r := range recs {
		text := r.Message
		if r.Chunk != nil {
			text = string(r.Chunk)
		}
		have = append(have, rec{r.Seq, r.Stream, text})
	}
	// flush goes through the streams in their fixed order.
	want := []rec{
		{1, Output, "out line\n"},
		{2, Verbose, "direct"},
		{3, Output, "waiting"},
		{4, Error, "err"},
		{5, Warning, "warn"},
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		t.Errorf("records %v\nwant %v", have, want)
	}
}

// TestEmitterAfterEnd: once the job has ended, Emit and the writers fail
// rather than lose records silently.
func TestEmitterAfterEnd(t *testing.T) {
	s := testSpool(1<<20, 1<<20)
	e := newEmitter(s, false)
	s.finish(&Done{State: Completed})
	if err := e.Emit(NewOutput("late", "")); err != errSpoolClosed {
		t.Errorf("Emit after the end: %v, want errSpoolClosed", err)
	}
	if _, err := e.Writer(Output).Write([]byte("late\n")); err != errSpoolClosed {
		t.Errorf("Write after the end: %v, want errSpoolClosed", err)
	}
}
