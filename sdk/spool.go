package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Spool tuning. A batch is sealed when it reaches batchSize or flushDelay
// after its first record, whichever comes first: large batches keep a fast
// stream cheap, the delay keeps a slow one live. spoolLimit bounds what a job
// may have waiting for the host before Emit blocks it.
const (
	defaultBatchSize  = 1 << 20
	defaultFlushDelay = 2 * time.Millisecond
	defaultSpoolLimit = 16 << 20
)

// errSpoolClosed is returned by Emit after the job has ended.
var errSpoolClosed = errors.New("the job's record stream is closed")

// spool numbers one job's records, packs them into batches, and keeps every
// batch until the host acknowledges it. It is the runtime half of the
// lossless relay: the host may receive a batch twice (after a reattach) but
// never misses one, and it drops duplicates by sequence number.
type spool struct {
	mu      sync.Mutex
	changed sync.Cond // a batch was sealed or acknowledged, or the job ended

	seq       uint64   // last sequence number handed out
	open      []byte   // records not yet sealed, protodelim-framed
	openFirst uint64   // seq of the first record in open
	batches   []*Batch // sealed and not yet acknowledged, in order
	held      int      // bytes in open and batches
	acked     uint64
	done      *Done // set when the job ended; all records are sealed by then
	doneAcked bool
	timer     *time.Timer
	armed     bool
	free      [][]byte // buffers of acknowledged batches, for reuse
	sent      uint64   // highest seq written to a host's stream
	streams   int      // streams sending now

	batchSize  int
	flushDelay time.Duration
	limit      int
}

func newSpool() *spool {
	s := &spool{batchSize: defaultBatchSize, flushDelay: defaultFlushDelay, limit: defaultSpoolLimit}
	s.changed.L = &s.mu
	return s
}

// recordCount is how many sequence numbers r takes: a chunk of text stands
// for one record per line.
func recordCount(r *Record) uint64 {
	if r.Count > 1 {
		return uint64(r.Count)
	}
	return 1
}

// Emit numbers r and adds it to the open batch.
//
// Text fields must be UTF-8 (protobuf strings are); a record whose text is
// not keeps its record with each invalid byte sequence replaced by U+FFFD,
// and an Error record right after it says so, rather than being refused.
func (s *spool) Emit(r *Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.held >= s.limit && s.done == nil {
		s.changed.Wait()
	}
	if s.done != nil {
		return errSpoolClosed
	}
	if !validUTF8(r) {
		r = proto.Clone(r).(*Record)
		fixUTF8(r)
		if err := s.emitLocked(r); err != nil {
			return err
		}
		return s.emitLocked(NewError(fmt.Sprintf("the %s record %d held text that is not valid UTF-8; each invalid byte sequence was replaced with U+FFFD", StreamNames[r.Stream], r.Seq),
			&ErrorDetail{Category: "InvalidData", ErrorId: "InvalidUTF8"}))
	}
	return s.emitLocked(r)
}

func (s *spool) emitLocked(r *Record) error {
	r.Seq = s.seq + 1
	if r.TimeUnixNano == 0 {
		r.TimeUnixNano = time.Now().UnixNano()
	}
	if len(s.open) == 0 {
		s.openFirst = r.Seq
	}
	size := proto.Size(r)
	if size > MaxRecord {
		return fmt.Errorf("a %s record of %d bytes; at most %d (64 MiB) go in one: write long text through the job's Writer, which sends it in chunks", StreamNames[r.Stream], size, MaxRecord)
	}
	before := len(s.open)
	s.open = protowire.AppendVarint(s.open, uint64(size))
	var err error
	s.open, err = proto.MarshalOptions{}.MarshalAppend(s.open, r)
	if err != nil {
		s.open = s.open[:before]
		return err
	}
	s.seq += recordCount(r)
	s.held += len(s.open) - before
	if len(s.open) >= s.batchSize {
		s.sealLocked()
	} else if !s.armed {
		s.armed = true
		if s.timer == nil {
			s.timer = time.AfterFunc(s.flushDelay, s.flush)
		} else {
			s.timer.Reset(s.flushDelay)
		}
	}
	return nil
}

// flush seals the open batch; the flush timer calls it.
func (s *spool) flush() {
	s.mu.Lock()
	s.sealLocked()
	s.mu.Unlock()
}

func (s *spool) sealLocked() {
	s.armed = false
	if len(s.open) == 0 {
		return
	}
	s.batches = append(s.batches, &Batch{FirstSeq: s.openFirst, LastSeq: s.seq, Records: s.open})
	if n := len(s.free); n > 0 {
		s.open, s.free = s.free[n-1][:0], s.free[:n-1]
	} else {
		s.open = make([]byte, 0, min(2*len(s.open), s.batchSize+s.batchSize/4))
	}
	s.changed.Broadcast()
}

// finish seals what is left and records how the job ended. Emit fails from
// now on.
func (s *spool) finish(d *Done) {
	if d.EndedUnixNano == 0 {
		// Told with the end: a host that hears of it later (killed,
		// and taking this process back) records when it happened.
		d.EndedUnixNano = time.Now().UnixNano()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealLocked()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.done = d
	s.changed.Broadcast()
}

// ack drops every batch up to seq; done says the host has persisted the job's
// end as well.
func (s *spool) ack(seq uint64, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.acked {
		s.acked = seq
	}
	n := 0
	for n < len(s.batches) && s.batches[n].LastSeq <= s.acked {
		b := s.batches[n]
		s.held -= len(b.Records)
		// Acknowledged means the host has read the batch, so nothing
		// refers to its buffer any more (not even the kernel, see
		// splicer): keep it for a new batch rather than have the
		// allocator clear a fresh one. As many as the limit lets a job
		// hold, as a host that falls behind acknowledges many at once;
		// they go with the job's end.
		if len(s.free) < s.limit/max(s.batchSize, 1) && cap(b.Records) >= s.batchSize {
			s.free = append(s.free, b.Records)
		}
		b.Records = nil
		n++
	}
	if n > 0 {
		s.batches = append(s.batches[:0], s.batches[n:]...)
	}
	if done && s.done != nil && s.acked >= s.seq {
		s.doneAcked = true
		s.free = nil
	}
	s.changed.Broadcast()
}

// state reports whether the job has ended and whether the host has
// acknowledged all of it.
func (s *spool) state() (ended, acked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done != nil, s.doneAcked
}

// stream sends every batch after after, then the job's end, through send.
// It returns when the end is sent, when ctx ends, or when send fails.
func (s *spool) stream(ctx context.Context, after uint64, send func(*Batch) error) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	s.streams++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.streams--
		s.changed.Broadcast()
		s.mu.Unlock()
	}()
	sent := after
	for {
		s.mu.Lock()
		var next *Batch
		for {
			if err := ctx.Err(); err != nil {
				s.mu.Unlock()
				return err
			}
			for _, b := range s.batches {
				if b.LastSeq > sent {
					next = b
					break
				}
			}
			if next != nil && s.done != nil && next.LastSeq == s.seq {
				// The last records and the end in one batch: one
				// message, one wake-up of the host, fewer than two.
				next = &Batch{FirstSeq: next.FirstSeq, LastSeq: next.LastSeq, Records: next.Records, Done: s.done}
			}
			if next != nil {
				break
			}
			if s.done != nil {
				next = &Batch{LastSeq: s.seq, Done: s.done}
				break
			}
			s.changed.Wait()
		}
		s.mu.Unlock()
		if err := send(next); err != nil {
			return err
		}
		s.mu.Lock()
		if next.LastSeq > s.sent {
			s.sent = next.LastSeq
			s.changed.Broadcast()
		}
		s.mu.Unlock()
		if next.Done != nil {
			return nil
		}
		sent = next.LastSeq
	}
}

// endedSmall waits until the job ends, at most wait, and reports whether it
// has ended holding no more than limit bytes of records.
func (s *spool) endedSmall(ctx context.Context, wait time.Duration, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waitLocked(ctx, wait, func() bool { return s.done != nil })
	return s.done != nil && s.held <= limit
}

// waitLocked waits, s.mu held, until ready reports true, at most d, or until
// ctx ends.
func (s *spool) waitLocked(ctx context.Context, d time.Duration, ready func() bool) {
	if ready() {
		return
	}
	expired := false
	wake := func(expire bool) func() {
		return func() {
			s.mu.Lock()
			expired = expired || expire
			s.changed.Broadcast()
			s.mu.Unlock()
		}
	}
	defer time.AfterFunc(d, wake(true)).Stop()
	defer context.AfterFunc(ctx, wake(false))()
	for !ready() && !expired && ctx.Err() == nil {
		s.changed.Wait()
	}
}

// expect counts a stream that is on its way (a host connecting to the bulk
// socket while the job already runs) as attached, until the returned func
// is called: a sync meanwhile waits for it, as for a stream that is there.
func (s *spool) expect() (done func()) {
	s.mu.Lock()
	s.streams++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.streams--
			s.changed.Broadcast()
			s.mu.Unlock()
		})
	}
}

// sync seals the open batch and waits, at most timeout, until a stream has
// written it to its host. Without a host attached or on its way (expect)
// it only seals.
func (s *spool) sync(timeout time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealLocked()
	target := s.seq
	if s.sent >= target || s.streams == 0 {
		return
	}
	s.waitLocked(context.Background(), timeout, func() bool { return s.sent >= target || s.streams == 0 })
}

// pull is protocol 1's long poll: it acknowledges every record up to after
// (and, with ackDone, the job's end), and returns the records numbered
// after it, at most max of them (a chunk of text counts its lines), waiting
// up to wait for some. last is the last sequence number they cover; done is
// set once the job has ended and nothing is left after last.
func (s *spool) pull(after uint64, max int, wait time.Duration, ackDone bool) (recs []*Record, last uint64, done *Done) {
	s.ack(after, ackDone)
	s.mu.Lock()
	defer s.mu.Unlock()
	expired := false
	t := time.AfterFunc(wait, func() {
		s.mu.Lock()
		expired = true
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	s.streams++
	defer func() { s.streams-- }()
	for {
		// A pull takes what is there now rather than wait for the
		// flush timer to seal it.
		s.sealLocked()
		last = after
		n := 0
		for _, b := range s.batches {
			if b.LastSeq <= after || n >= max {
				continue
			}
			_ = eachFramed(b.Records, func(r *Record) {
				end := SeqEnd(r)
				if end <= last || n >= max {
					return
				}
				recs = append(recs, r)
				n += int(recordCount(r))
				last = end
			})
			if n < max && b.LastSeq > last {
				last = b.LastSeq
			}
		}
		if len(recs) > 0 || last > after {
			if s.done != nil && last >= s.seq {
				done = s.done
			}
			if last > s.sent {
				s.sent = last
			}
			return recs, last, done
		}
		if s.done != nil {
			return nil, s.seq, s.done
		}
		if expired {
			return nil, after, nil
		}
		s.changed.Wait()
	}
}

// eachFramed decodes the protodelim-framed records of a batch.
func eachFramed(b []byte, fn func(*Record)) error {
	for len(b) > 0 {
		n, k := protowire.ConsumeVarint(b)
		if k < 0 || uint64(len(b)-k) < n {
			return errors.New("malformed batch")
		}
		r := new(Record)
		if err := proto.Unmarshal(b[k:k+int(n)], r); err != nil {
			return err
		}
		fn(r)
		b = b[k+int(n):]
	}
	return nil
}
