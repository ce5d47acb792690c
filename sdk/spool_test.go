package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
)

const waitLimit = 10 * time.Second

// within receives from c, failing the test if nothing comes within
// waitLimit: a regression then fails instead of hanging the suite.
func within[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s: nothing within %v", what, waitLimit)
	}
	var zero T
	return zero
}

// decodeBatch decodes a batch's protodelim-framed records.
func decodeBatch(t testing.TB, b *Batch) []*Record {
	t.Helper()
	var out []*Record
	r := bytes.NewReader(b.Records)
	for {
		rec := &Record{}
		err := protodelim.UnmarshalFrom(r, rec)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("batch %d..%d: %v", b.FirstSeq, b.LastSeq, err)
		}
		out = append(out, rec)
	}
}

// checkBatch asserts that b's records are numbered consecutively from
// FirstSeq to LastSeq.
func checkBatch(t testing.TB, b *Batch) []*Record {
	t.Helper()
	recs := decodeBatch(t, b)
	if len(recs) == 0 {
		t.Fatalf("batch %d..%d has no records", b.FirstSeq, b.LastSeq)
	}
	next := b.FirstSeq
	for _, r := range recs {
		if r.Seq != next {
			t.Fatalf("batch %d..%d: record seq %d, want %d", b.FirstSeq, b.LastSeq, r.Seq, next)
		}
		next += recordCount(r)
	}
	if next-1 != b.LastSeq {
		t.Fatalf("batch %d..%d: records end at %d", b.FirstSeq, b.LastSeq, next-1)
	}
	return recs
}

// testSpool returns a spool that seals only at batchSize bytes (or when told
// to), with the given limit.
func testSpool(batchSize, limit int) *spool {
	s := newSpool()
	s.batchSize = batchSize
	s.flushDelay = time.Hour
	s.limit = limit
	return s
}

func emit(t testing.TB, s *spool, r *Record) {
	t.Helper()
	if err := s.Emit(r); err != nil {
		t.Fatalf("Emit: %v", err)
	}
}

// collect streams s after after until the Done batch, with a deadline.
func collect(t testing.TB, s *spool, after uint64) []*Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var got []*Batch
	err := s.stream(ctx, after, func(b *Batch) error {
		got = append(got, b)
		return nil
	})
	if err != nil {
		t.Fatalf("stream(after %d): %v", after, err)
	}
	if len(got) == 0 || got[len(got)-1].Done == nil {
		t.Fatalf("stream(after %d) ended without Done", after)
	}
	return splitEnd(got)
}

// splitEnd returns batches with a last batch that carries records and the
// end both (see spool.stream) as two: the records, then the end alone. The
// tests that look at a job's records and at its end apart take them so;
// TestSpoolEndWithLastRecords looks at the batch as sent.
func splitEnd(bs []*Batch) []*Batch {
	last := bs[len(bs)-1]
	if last.Done == nil || len(last.Records) == 0 {
		return bs
	}
	records := &Batch{FirstSeq: last.FirstSeq, LastSeq: last.LastSeq, Records: last.Records}
	end := &Batch{LastSeq: last.LastSeq, Done: last.Done}
	return append(bs[:len(bs)-1:len(bs)-1], records, end)
}

// TestSpoolEndWithLastRecords: a job that ends before its last records are
// sent has them sent with its end, in one batch (one message to the host,
// not two); one whose records were all sent has its end sent alone.
func TestSpoolEndWithLastRecords(t *testing.T) {
	s := testSpool(1<<20, 1<<30)
	for range 3 {
		emit(t, s, NewOutput("x", ""))
	}
	s.finish(&Done{State: Completed})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var got []*Batch
	if err := s.stream(ctx, 0, func(b *Batch) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Done == nil || got[0].FirstSeq != 1 || got[0].LastSeq != 3 || len(checkBatch(t, got[0])) != 3 {
		t.Fatalf("sent %v, want one batch: records 1..3 and the end", got)
	}

	// The records went to a host before the end: the end comes alone,
	// and a host that asks again from 0 gets the records with it.
	s = testSpool(1<<20, 1<<30)
	emit(t, s, NewOutput("x", ""))
	s.flush()
	sent := make(chan *Batch, 4)
	errc := make(chan error, 1)
	go func() { errc <- s.stream(ctx, 0, func(b *Batch) error { sent <- b; return nil }) }()
	if b := within(t, sent, "the records"); b.Done != nil || b.LastSeq != 1 {
		t.Fatalf("first batch %v, want record 1 without the end", b)
	}
	s.finish(&Done{State: Failed, ExitCode: 3})
	if b := within(t, sent, "the end"); b.Done == nil || b.Done.ExitCode != 3 || b.LastSeq != 1 || len(b.Records) != 0 {
		t.Fatalf("second batch %v, want the end alone at 1", b)
	}
	if err := within(t, errc, "stream"); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := s.stream(ctx, 0, func(b *Batch) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Done == nil || got[0].LastSeq != 1 || len(checkBatch(t, got[0])) != 1 {
		t.Fatalf("sent again from 0: %v, want record 1 with the end", got)
	}
}

func (s *spool) sealedBatches() []*Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Batch(nil), s.batches...)
}

func (s *spool) heldBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

func TestSpoolSequenceNumbers(t *testing.T) {
	s := testSpool(1<<20, 1<<20)
	stamp := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	in := []struct {
		rec     *Record
		wantSeq uint64
	}{
		{NewOutput("first", ""), 1},
		{&Record{Stream: Output, Chunk: []byte("a\nb\nc\n"), Count: 3}, 2},
		{&Record{Stream: Output, Chunk: []byte("one\n"), Count: 1}, 5},
		{&Record{Stream: Output, Chunk: []byte("piece"), Count: 0}, 6}, // Count 0 still takes a number
		{NewMessage(Verbose, "v"), 7},
		{&Record{Stream: Error, Chunk: []byte("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"), Count: 10}, 8},
		{&Record{Stream: Debug, Message: "stamped", TimeUnixNano: stamp}, 18},
	}
	for _, c := range in {
		emit(t, s, c.rec)
		if c.rec.Seq != c.wantSeq {
			t.Errorf("Emit set Seq %d, want %d", c.rec.Seq, c.wantSeq)
		}
	}
	s.finish(&Done{State: Completed})
	batches := collect(t, s, 0)
	if len(batches) != 2 {
		t.Fatalf("%d batches, want one of records and the Done batch", len(batches))
	}
	b := batches[0]
	if b.FirstSeq != 1 || b.LastSeq != 18 {
		t.Errorf("batch covers %d..%d, want 1..18", b.FirstSeq, b.LastSeq)
	}
	recs := checkBatch(t, b)
	if len(recs) != len(in) {
		t.Fatalf("%d records, want %d", len(recs), len(in))
	}
	for i, r := range recs {
		if r.Seq != in[i].wantSeq {
			t.Errorf("record %d: seq %d, want %d", i, r.Seq, in[i].wantSeq)
		}
		if r.TimeUnixNano == 0 {
			t.Errorf("record %d has no time", i)
		}
		if r.Stream != in[i].rec.Stream || r.Message != in[i].rec.Message || !bytes.Equal(r.Chunk, in[i].rec.Chunk) {
			t.Errorf("record %d: got %v, want %v", i, r, in[i].rec)
		}
	}
	if recs[len(recs)-1].TimeUnixNano != stamp {
		t.Errorf("Emit replaced a record's own time")
	}
	if d := batches[1]; d.Done.State != Completed || d.LastSeq != 18 || len(d.Records) != 0 {
		t.Errorf("Done batch %v, want LastSeq 18, no records, Completed", d)
	}
}

// TestSpoolRejectedRecordKeepsNumbering emits a record that cannot be
// marshalled (proto3 strings must be valid UTF-8) between two good ones. Emit
// reports the error; the good records must still be numbered consecutively,
// so that a batch's FirstSeq..LastSeq is exactly its records.
//
// A regression test: before commit 508e6c7 Emit advanced the sequence number
// before marshalling and kept it advanced when marshalling failed.
func TestSpoolRejectedRecordKeepsNumbering(t *testing.T) {
	s := testSpool(1<<20, 1<<20)
	emit(t, s, NewOutput("before", ""))
	// Emit repairs invalid UTF-8 (TestSpoolInvalidUTF8); below it, a
	// record with it fails to marshal.
	s.mu.Lock()
	err := s.emitLocked(NewOutput("bad \xff utf-8", ""))
	s.mu.Unlock()
	if err == nil {
		t.Fatalf("emitLocked of invalid UTF-8 succeeded; this test needs a record that fails to marshal")
	}
	emit(t, s, NewOutput("after", ""))
	s.finish(&Done{State: Completed})
	b := collect(t, s, 0)[0]
	recs := decodeBatch(t, b)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if recs[0].Seq != 1 || recs[1].Seq != 2 || b.LastSeq != 2 {
		t.Errorf("seqs %d, %d in batch %d..%d; want 1, 2 in 1..2", recs[0].Seq, recs[1].Seq, b.FirstSeq, b.LastSeq)
	}
}

func TestSpoolSealsAtBatchSize(t *testing.T) {
	for _, size := range []int{1, 50, 200, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := testSpool(size, 1<<30)
			const n = 300
			for i := range n {
				r := NewOutput(fmt.Sprintf("record %d", i), "")
				if i%7 == 0 {
					r = &Record{Stream: Output, Chunk: []byte("x\ny\n"), Count: 2}
				}
				emit(t, s, r)
			}
			sealed := s.sealedBatches()
			var next uint64 = 1
			for i, b := range sealed {
				if b.FirstSeq != next {
					t.Fatalf("batch %d starts at %d, want %d", i, b.FirstSeq, next)
				}
				checkBatch(t, b)
				if len(b.Records) < size {
					t.Errorf("batch %d sealed at %d bytes, below batchSize %d", i, len(b.Records), size)
				}
				// Sealed as soon as it reached the size: without its last
				// record it was still below.
				frames := frameSizes(b.Records)
				if len(frames) > 1 && len(b.Records)-frames[len(frames)-1] >= size {
					t.Errorf("batch %d was not sealed when it reached %d bytes", i, size)
				}
				next = b.LastSeq + 1
			}
			if size <= 50 && len(sealed) == 0 {
				t.Fatalf("nothing sealed with batchSize %d", size)
			}
			s.finish(&Done{State: Completed})
			batches := collect(t, s, 0)
			var total uint64
			for _, b := range batches[:len(batches)-1] {
				for _, r := range checkBatch(t, b) {
					total += recordCount(r)
				}
			}
			if last := batches[len(batches)-1].LastSeq; total != last || last != n+n/7+1 {
				t.Errorf("%d record numbers streamed, Done at %d; want %d", total, last, n+n/7+1)
			}
		})
	}
}

// frameSizes returns the size of each length-prefixed record in b, prefix
// included.
func frameSizes(b []byte) []int {
	var out []int
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 || uint64(len(b)-n) < v {
			return append(out, -1)
		}
		out = append(out, n+int(v))
		b = b[n+int(v):]
	}
	return out
}

// TestSpoolFlushTimer seals a batch that never reaches batchSize once its
// flush delay has passed, each time a record starts a new batch.
func TestSpoolFlushTimer(t *testing.T) {
	s := newSpool()
	s.batchSize = 1 << 30
	s.flushDelay = 5 * time.Millisecond
	got := make(chan *Batch, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- s.stream(ctx, 0, func(b *Batch) error { got <- b; return nil })
	}()
	var want uint64 = 1
	for round := range 5 {
		for range round + 1 {
			emit(t, s, NewOutput("x", ""))
		}
		select {
		case b := <-got:
			if b.Done != nil {
				t.Fatalf("Done before the job ended")
			}
			recs := checkBatch(t, b)
			if b.FirstSeq != want {
				t.Fatalf("round %d: batch starts at %d, want %d", round, b.FirstSeq, want)
			}
			want = b.LastSeq + 1
			// The records of one round are emitted well within the delay
			// usually, but a slow machine may seal mid-round: drain the rest.
			for n := len(recs); n < round+1; {
				select {
				case b := <-got:
					n += len(checkBatch(t, b))
					want = b.LastSeq + 1
				case <-time.After(waitLimit):
					t.Fatalf("round %d: the rest of the records were never sealed", round)
				}
			}
		case <-time.After(waitLimit):
			t.Fatalf("round %d: the flush timer sealed nothing within %v", round, waitLimit)
		}
	}
	s.finish(&Done{State: Completed})
	select {
	case b := <-got:
		if b.Done == nil || b.LastSeq != want-1 {
			t.Errorf("last batch %v, want Done at %d", b, want-1)
		}
	case <-time.After(waitLimit):
		t.Fatal("no Done batch")
	}
	if err := within(t, errc, "stream"); err != nil {
		t.Errorf("stream: %v", err)
	}
}

// fillSpool emits n records into a spool that seals every record, so batch i
// holds seq i+1.
func fillSpool(t *testing.T, n int) *spool {
	s := testSpool(1, 1<<30)
	for i := range n {
		emit(t, s, NewOutput(fmt.Sprint(i), ""))
	}
	return s
}

func TestSpoolStreamAfter(t *testing.T) {
	s := fillSpool(t, 10)
	s.finish(&Done{State: Failed, ExitCode: 4, Reason: "r"})
	for _, after := range []uint64{0, 1, 5, 9, 10, 11} {
		batches := collect(t, s, after)
		var seqs []uint64
		for _, b := range batches[:len(batches)-1] {
			if b.LastSeq <= after {
				t.Errorf("after %d: sent batch %d..%d", after, b.FirstSeq, b.LastSeq)
			}
			for _, r := range checkBatch(t, b) {
				seqs = append(seqs, r.Seq)
			}
		}
		var want []uint64
		for q := after + 1; q <= 10; q++ {
			want = append(want, q)
		}
		if fmt.Sprint(seqs) != fmt.Sprint(want) {
			t.Errorf("after %d: seqs %v, want %v", after, seqs, want)
		}
		d := batches[len(batches)-1]
		if d.Done.State != Failed || d.Done.ExitCode != 4 || d.Done.Reason != "r" || d.LastSeq != 10 || len(d.Records) != 0 {
			t.Errorf("after %d: Done batch %v", after, d)
		}
	}
}

// TestSpoolStreamAfterMidBatch asks for records after a seq in the middle of
// a batch: the whole batch is sent again (the host drops the duplicates).
func TestSpoolStreamAfterMidBatch(t *testing.T) {
	s := testSpool(1<<20, 1<<30)
	for range 3 {
		emit(t, s, NewOutput("a", ""))
	}
	s.flush()
	for range 3 {
		emit(t, s, NewOutput("b", ""))
	}
	s.finish(&Done{State: Completed})
	batches := collect(t, s, 4)
	if len(batches) != 2 || batches[0].FirstSeq != 4 || batches[0].LastSeq != 6 {
		t.Errorf("after 4: got %v, want batch 4..6 then Done", batches)
	}
}

// TestSpoolReattach acknowledges part of what a first stream sent; a second
// stream sends exactly the unacknowledged batches, and acks free memory.
func TestSpoolReattach(t *testing.T) {
	s := fillSpool(t, 10)
	first := s.sealedBatches()
	if len(first) != 10 {
		t.Fatalf("%d batches, want 10", len(first))
	}
	total := s.heldBytes()
	var sum int
	for _, b := range first {
		sum += len(b.Records)
	}
	if total != sum {
		t.Fatalf("held %d, want the batches' %d bytes", total, sum)
	}

	freed := 0 // what acking the first 4 batches frees
	for _, b := range first[:4] {
		freed += len(b.Records)
	}

	// A first host receives the first 6 batches and goes away, having
	// acknowledged 4.
	ctx, cancel := context.WithCancel(context.Background())
	var got1 []*Batch
	err := s.stream(ctx, 0, func(b *Batch) error {
		got1 = append(got1, b)
		if len(got1) == 6 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first stream: %v, want context.Canceled", err)
	}
	s.ack(4, false)
	if got := s.heldBytes(); got != total-freed {
		t.Errorf("after ack 4: held %d, want %d", got, total-freed)
	}
	if got := s.sealedBatches(); len(got) != 6 || got[0].FirstSeq != 5 {
		t.Errorf("after ack 4: %d batches kept starting at %d, want 6 from 5", len(got), got[0].FirstSeq)
	}
	// An older ack changes nothing.
	s.ack(2, false)
	if got := s.heldBytes(); got != total-freed {
		t.Errorf("a smaller ack changed held to %d", got)
	}
	// The job goes on; new batches may reuse the acknowledged ones'
	// buffers, which must not disturb the batches still kept.
	for i := 10; i < 14; i++ {
		emit(t, s, NewOutput(fmt.Sprint(i), ""))
	}

	// The host comes back asking for everything after what it persisted
	// (4), and also from 0: either way it gets exactly batches 5..14.
	s.finish(&Done{State: Completed})
	for _, after := range []uint64{0, 4} {
		batches := collect(t, s, after)
		var seqs []uint64
		for _, b := range batches[:len(batches)-1] {
			for _, r := range checkBatch(t, b) {
				seqs = append(seqs, r.Seq)
				if r.Message != fmt.Sprint(r.Seq-1) {
					t.Errorf("record %d holds %q, want %q", r.Seq, r.Message, fmt.Sprint(r.Seq-1))
				}
			}
		}
		if fmt.Sprint(seqs) != "[5 6 7 8 9 10 11 12 13 14]" {
			t.Errorf("reattach after %d: seqs %v, want [5 ... 14]", after, seqs)
		}
	}

	// An ack in the middle of a batch keeps it.
	s2 := testSpool(1<<20, 1<<30)
	for range 4 {
		emit(t, s2, NewOutput("x", ""))
	}
	s2.flush()
	s2.ack(3, false)
	if got := s2.sealedBatches(); len(got) != 1 {
		t.Errorf("ack inside a batch dropped it")
	}

	s.ack(14, false)
	if got := s.heldBytes(); got != 0 {
		t.Errorf("after acking everything: held %d, want 0", got)
	}
	if got := s.sealedBatches(); len(got) != 0 {
		t.Errorf("after acking everything: %d batches kept", len(got))
	}
}

// TestSpoolLimit blocks Emit while the spool holds limit bytes, until an ack
// frees them, and fails it once the job has ended.
func TestSpoolLimit(t *testing.T) {
	s := testSpool(1, 1) // every record is sealed and fills the spool
	emit(t, s, NewOutput("first", ""))

	result := func() chan error {
		c := make(chan error, 1)
		go func() { c <- s.Emit(NewOutput("next", "")) }()
		return c
	}
	second := result()
	// Not a timing assertion: Emit must not return while the spool is full,
	// however long we look.
	select {
	case err := <-second:
		t.Fatalf("Emit returned (%v) while the spool was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.ack(1, false)
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("Emit after the ack: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Emit still blocked after the ack freed the spool")
	}

	third := result()
	select {
	case err := <-third:
		t.Fatalf("Emit returned (%v) while the spool was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.finish(&Done{State: Stopped})
	select {
	case err := <-third:
		if !errors.Is(err, errSpoolClosed) {
			t.Errorf("blocked Emit after finish: %v, want errSpoolClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Emit still blocked after the job ended")
	}
	if err := s.Emit(NewOutput("late", "")); !errors.Is(err, errSpoolClosed) {
		t.Errorf("Emit after finish: %v, want errSpoolClosed", err)
	}
	// The refused records took no numbers.
	batches := collect(t, s, 0)
	if d := batches[len(batches)-1]; d.LastSeq != 2 {
		t.Errorf("Done at %d, want 2", d.LastSeq)
	}
}

// TestSpoolLimitOpenBatch fills the spool with a batch that is still open:
// the flush timer seals it, a stream sends it, the ack frees it.
func TestSpoolLimitOpenBatch(t *testing.T) {
	s := newSpool()
	s.batchSize = 1 << 20
	s.flushDelay = time.Millisecond
	s.limit = 100
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.stream(ctx, 0, func(b *Batch) error {
			if b.Done == nil {
				s.ack(b.LastSeq, false)
			}
			return nil
		})
	}()
	// Emit blocks while the spool is full; if the timer or the acks
	// regressed it would block for good, so the emits run under a deadline.
	emitted := make(chan error, 1)
	go func() {
		for i := range 200 {
			if err := s.Emit(NewOutput(fmt.Sprintf("record %03d", i), "")); err != nil {
				emitted <- err
				return
			}
		}
		emitted <- nil
	}()
	select {
	case err := <-emitted:
		if err != nil {
			t.Fatalf("Emit: %v", err)
		}
	case <-time.After(waitLimit):
		s.finish(&Done{State: Stopped}) // unblocks the emits
		t.Fatal("Emit blocked on a full spool that the flush timer and acks should have freed")
	}
	s.finish(&Done{State: Completed})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the stream did not end after the job's end")
	}
}

func TestSpoolState(t *testing.T) {
	type step struct {
		finish bool
		ack    uint64
		done   bool
	}
	for _, tc := range []struct {
		name              string
		steps             []step
		wantEnded, wantOK bool
	}{
		{"running", nil, false, false},
		{"running, acked", []step{{ack: 3}}, false, false},
		{"running, done ack too early", []step{{ack: 3, done: true}}, false, false},
		{"done ack before the end, then end", []step{{ack: 3, done: true}, {finish: true}}, true, false},
		{"ended", []step{{finish: true}}, true, false},
		{"ended, acked without done", []step{{finish: true}, {ack: 3}}, true, false},
		{"ended, done ack short", []step{{finish: true}, {ack: 2, done: true}}, true, false},
		{"ended, done ack", []step{{finish: true}, {ack: 3, done: true}}, true, true},
		{"ended, done ack past the end", []step{{finish: true}, {ack: 9, done: true}}, true, true},
		{"ended, ack then done ack", []step{{finish: true}, {ack: 3}, {ack: 0, done: true}}, true, true},
		{"ended, done ack then smaller ack", []step{{finish: true}, {ack: 3, done: true}, {ack: 1}}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fillSpool(t, 3)
			for _, st := range tc.steps {
				if st.finish {
					s.finish(&Done{State: Completed})
				} else {
					s.ack(st.ack, st.done)
				}
			}
			ended, acked := s.state()
			if ended != tc.wantEnded || acked != tc.wantOK {
				t.Errorf("state() = %v, %v; want %v, %v", ended, acked, tc.wantEnded, tc.wantOK)
			}
		})
	}
	// An empty job is done-acked at seq 0.
	s := newSpool()
	s.finish(&Done{State: Completed})
	s.ack(0, true)
	if ended, acked := s.state(); !ended || !acked {
		t.Errorf("empty job: state() = %v, %v", ended, acked)
	}
}

// TestSpoolStreamEnds covers the ways a stream ends without Done.
func TestSpoolStreamEnds(t *testing.T) {
	t.Run("ctx cancelled while waiting", func(t *testing.T) {
		s := fillSpool(t, 2)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		sent := make(chan *Batch, 10)
		go func() {
			errc <- s.stream(ctx, 0, func(b *Batch) error { sent <- b; return nil })
		}()
		for range 2 {
			select {
			case <-sent:
			case <-time.After(waitLimit):
				t.Fatal("batch not sent")
			}
		}
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("stream: %v, want context.Canceled", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("stream still running after its ctx was cancelled")
		}
	})
	t.Run("ctx already cancelled", func(t *testing.T) {
		s := fillSpool(t, 2)
		s.finish(&Done{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n := 0
		err := s.stream(ctx, 0, func(*Batch) error { n++; return nil })
		if !errors.Is(err, context.Canceled) || n != 0 {
			t.Errorf("stream: %v after %d sends, want context.Canceled and none", err, n)
		}
	})
	t.Run("send fails", func(t *testing.T) {
		s := fillSpool(t, 3)
		boom := errors.New("boom")
		n := 0
		err := s.stream(context.Background(), 0, func(*Batch) error { n++; return boom })
		if !errors.Is(err, boom) || n != 1 {
			t.Errorf("stream: %v after %d sends, want boom after 1", err, n)
		}
	})
}

// TestSpoolConcurrent has several goroutines emit while hosts stream and
// ack, two of them going away mid-stream without acking their last batch:
// every number arrives, in order, with duplicates only from resent batches.
func TestSpoolConcurrent(t *testing.T) {
	s := newSpool()
	s.batchSize = 512
	s.flushDelay = 100 * time.Microsecond
	s.limit = 4096
	const emitters, each = 4, 2000
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitLimit)
	defer cancel()

	var (
		mu       sync.Mutex
		next     uint64 = 1 // the next number the host expects
		received int
		dups     int
	)
	errc := make(chan error, 1)
	attach := func(after uint64, stopAfter int) {
		sctx, scancel := context.WithCancel(ctx)
		defer scancel()
		n := 0
		errc <- s.stream(sctx, after, func(b *Batch) error {
			if b.Done != nil && len(b.Records) == 0 {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if b.LastSeq <= after {
				return fmt.Errorf("batch %d..%d sent to a host that asked for after %d", b.FirstSeq, b.LastSeq, after)
			}
			recs, err := batchRecords(b)
			if err != nil {
				return err
			}
			for _, r := range recs {
				switch {
				case r.Seq < next:
					if r.Seq > after {
						return fmt.Errorf("record %d sent twice to one host", r.Seq)
					}
					dups++
				case r.Seq == next:
					received++
					next += recordCount(r)
				default:
					return fmt.Errorf("gap: record %d, want %d", r.Seq, next)
				}
			}
			n++
			if stopAfter > 0 && n == stopAfter {
				scancel() // the host goes away without acking this batch
				return nil
			}
			s.ack(next-1, false)
			return nil
		})
	}
	var wg sync.WaitGroup
	for range emitters {
		wg.Go(func() {
			for i := range each {
				var r *Record
				if i%5 == 0 {
					r = &Record{Stream: Output, Chunk: []byte("l1\nl2\n"), Count: 2}
				} else {
					r = NewMessage(Verbose, "m")
				}
				if err := s.Emit(r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Three hosts in turn: two go away mid-stream, the last stays. Each
	// asks for what comes after the last batch it was sent but did not
	// ack, as a host that persisted it would.
	for _, stop := range []int{5, 7, 0} {
		mu.Lock()
		after := next - 1
		mu.Unlock()
		if stop == 0 {
			go attach(after, 0)
			break
		}
		attach(after, stop)
		if err := within(t, errc, "stream of a host that went away"); !errors.Is(err, context.Canceled) {
			t.Fatalf("host that went away: %v", err)
		}
	}
	wg.Wait()
	s.finish(&Done{State: Completed})
	if err := within(t, errc, "last stream"); err != nil {
		t.Fatalf("last stream: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := uint64(emitters * (each + each/5)) // a chunk takes two numbers
	if next-1 != want {
		t.Errorf("numbers up to %d arrived, want %d", next-1, want)
	}
	if received != emitters*each {
		t.Errorf("%d records arrived, want %d", received, emitters*each)
	}
	t.Logf("%d records, %d duplicates", received, dups)
}

// batchRecords decodes and checks a batch without a testing.TB, for use off
// the test goroutine.
func batchRecords(b *Batch) ([]*Record, error) {
	var out []*Record
	r := bytes.NewReader(b.Records)
	next := b.FirstSeq
	for {
		rec := &Record{}
		err := protodelim.UnmarshalFrom(r, rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec.Seq != next {
			return nil, fmt.Errorf("batch %d..%d: record %d, want %d", b.FirstSeq, b.LastSeq, rec.Seq, next)
		}
		next += recordCount(rec)
		out = append(out, rec)
	}
	if len(out) == 0 || next-1 != b.LastSeq {
		return nil, fmt.Errorf("batch %d..%d: %d records ending at %d", b.FirstSeq, b.LastSeq, len(out), next-1)
	}
	return out, nil
}

// Text that is not UTF-8 cannot travel in a protobuf string: the record
// keeps its place with the bad bytes replaced, and an Error record says so.
func TestSpoolInvalidUTF8(t *testing.T) {
	s := testSpool(1<<20, 1<<20)
	emit(t, s, NewOutput("a\xffb", ""))
	emit(t, s, NewProgress(&ProgressDetail{Activity: "ok", Status: "\xc3"}))
	emit(t, s, NewOutput("fine", ""))
	s.finish(&Done{State: Completed})
	var got []string
	for _, b := range collect(t, s, 0) {
		if b.Done != nil {
			continue
		}
		for _, r := range checkBatch(t, b) {
			text := r.Message
			if r.Progress != nil {
				text = r.Progress.Status
			}
			got = append(got, fmt.Sprintf("%d %s %q", r.Seq, StreamNames[r.Stream], text))
		}
	}
	want := []string{
		"1 output \"a\ufffdb\"",
		`2 error "the output record 1 held text that is not valid UTF-8; each invalid byte sequence was replaced with U+FFFD"`,
		"3 progress \"\ufffd\"",
		`4 error "the progress record 3 held text that is not valid UTF-8; each invalid byte sequence was replaced with U+FFFD"`,
		`5 output "fine"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A record over MaxRecord is refused as it is emitted, saying how to send
// such text, and the spool goes on: the host would refuse the batch (a
// record stored that large could never be read back).
func TestEmitRefusesOversizedRecord(t *testing.T) {
	s := newSpool()
	defer s.finish(&Done{State: Completed})
	err := s.Emit(NewOutput(strings.Repeat("x", MaxRecord), ""))
	if err == nil || !strings.Contains(err.Error(), "at most 67108864 (64 MiB)") || !strings.Contains(err.Error(), "Writer") {
		t.Fatalf("Emit of a record over MaxRecord: %v; want refused, pointing at the Writer", err)
	}
	if err := s.Emit(NewOutput("after", "")); err != nil {
		t.Fatalf("Emit after the refusal: %v", err)
	}
	if s.seq != 1 {
		t.Errorf("records numbered %d; want 1 (the refused one takes no number)", s.seq)
	}
}
