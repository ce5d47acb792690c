package records

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
)

// Options are Receive-Job's switches.
type Options struct {
	// Keep copies the records; otherwise they are drained.
	Keep bool
	// Wait streams records until the jobs finish; with Keep it follows
	// them without consuming anything (tail -f), which Receive-Job refuses
	// and users reach for.
	Wait bool
	// AutoRemove removes each job once it is finished and drained; it needs
	// Wait.
	AutoRemove bool
	// Location keeps the jobs (child jobs, for a parent) at this location,
	// a wildcard pattern: Receive-Job -Location, for a job on several
	// nodes.
	Location string
	// Resume is how far the caller has each job's records already (start
	// --wait sent again to the next host): those are passed over.
	Resume []api.Mark
}

// Sink takes received records. The record is only valid during the call.
// Flush is called before Receive blocks waiting for more, so what the sink
// buffers reaches the user while the job runs.
type Sink interface {
	Record(jobID uint64, r *sdk.Record) error
	Flush() error
}

// Ender is a Sink that is told when a finished job's records have all been
// passed on, with the job's final row: where a receive says a job failed.
type Ender interface {
	End(j *api.Job) error
}

// CatchUpper is a Sink that is told when a waiting receive has passed on
// all of a job's log and waits for what comes next: where receive --tail
// --wait has the tail it prints before following.
type CatchUpper interface {
	CaughtUp(jobID uint64) error
}

// Receive passes the selected jobs' unreceived records to sink: job by
// job, or, with Wait and several jobs, as they arrive from each (the sink
// gets one call at a time either way).
func Receive(ctx context.Context, t *jobs.Table, c identity.Caller, sel []string, o Options, sink Sink) error {
	if o.AutoRemove && !o.Wait {
		return errorf(errkind.ErrBadRequest, "--auto-remove needs --wait")
	}
	if o.AutoRemove && o.Keep {
		return errorf(errkind.ErrBadRequest, "--auto-remove removes what --keep keeps; give one of them")
	}
	t.Lock()
	js, err := t.SelectLocked(c, sel)
	parents := 0
	for _, j := range js {
		if len(j.Children) > 0 {
			parents++
		}
	}
	if parents > 0 {
		// A parent's records are its children's.
		all := js
		js = jobs.ExpandParents(js)
		if o.AutoRemove {
			defer t.RemoveEmptied(all)
		}
	}
	if err == nil && o.Location != "" && len(js) > 0 {
		loc := jobs.CompileWildcard(o.Location)
		kept := js[:0:0]
		var at []string
		for _, j := range js {
			if loc.Match(j.Row.Location) {
				kept = append(kept, j)
			}
			at = append(at, j.Row.Location)
		}
		if len(kept) == 0 {
			err = errorf(errkind.ErrNotFound, "none of the jobs is at %q; they are at %s", o.Location, strings.Join(at, ", "))
		}
		js = kept
	}
	t.Unlock()
	if err != nil {
		return err
	}
	if !o.Wait || len(js) == 1 {
		for _, j := range js {
			if err := receiveJob(ctx, t, j, o, sink); err != nil {
				return err
			}
		}
		return sink.Flush()
	}
	shared := &lockedSink{sink: sink}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(js))
	for _, j := range js {
		go func() { errs <- receiveJob(ctx, t, j, o, shared) }()
	}
	var first error
	for range js {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // one failing ends the receive, as one by one would
		}
	}
	if first != nil {
		return first
	}
	return sink.Flush()
}

// lockedSink lets several jobs' receives share one sink: each call is
// whole, so a record's lines are never split by another job's.
type lockedSink struct {
	mu   sync.Mutex
	sink Sink
}

func (s *lockedSink) Record(jobID uint64, r *sdk.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sink.Record(jobID, r)
}

func (s *lockedSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sink.Flush()
}

func (s *lockedSink) CaughtUp(jobID uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.sink.(CatchUpper); ok {
		return c.CaughtUp(jobID)
	}
	return nil
}

func (s *lockedSink) End(j *api.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.sink.(Ender); ok {
		return e.End(j)
	}
	return nil
}

// receiveBatch is how many bytes of log a receive passes on between
// flushes: each flush makes the records received once the caller has them
// (a write to its own file succeeded, or it acknowledged the frames), and a
// draining receive records how far it got (a journal append, no sync), so
// a host killed mid-receive resends only the batch it was writing: at most
// this much log and the record that crossed it. Small enough that a slow
// reader across a kill sees little twice, large enough that the flush and
// the cursor write cost nothing next to the bytes (64 KiB is also what a
// pipe holds).
const receiveBatch = 64 << 10

func receiveJob(ctx context.Context, t *jobs.Table, j *jobs.Job, o Options, sink Sink) error {
	k := newTracker(j.Row.ID, sink, o)
	t.Lock()
	cursor, records := j.Row.ReadOffset, j.Records
	if !o.Keep {
		j.Draining++
	}
	if o.AutoRemove {
		j.Collectors++
	}
	t.Unlock()
	moved, caughtUp := false, false
	defer func() {
		if !o.Keep {
			t.Lock()
			j.Draining--
			if o.AutoRemove {
				// The job's end may be waiting for this receive to
				// remove it (see jobs.Table.AwaitRemoved).
				j.Collectors--
				j.NotifyLocked()
			}
			t.Unlock()
		}
		if moved {
			t.Persist(j)
		}
	}()
	// delivered moves the read offset past what the sink has passed on,
	// unless the records read were an earlier attempt's: the job failed
	// and runs again meanwhile, and the new attempt's records start at 0.
	delivered := func(off int64) {
		if o.Keep {
			return
		}
		t.Lock()
		if j.Records != records {
			t.Unlock()
			return
		}
		j.Row.ReadOffset = off
		moved = true
		j.NotifyLocked()
		t.Unlock()
		t.Checkpoint(j)
	}
	for {
		j.RecvMu.Lock()
		t.Lock()
		if j.Removed {
			t.Unlock()
			j.RecvMu.Unlock()
			return nil // removed meanwhile
		}
		if !o.Keep {
			cursor = j.Row.ReadOffset
		} else if j.Records != records {
			cursor = 0 // the new attempt's records, from the start
		}
		records = j.Records
		finished, changed := j.Row.State.Finished(), j.Changed
		end, kept, attempt := j.LogEndLocked(), j.Row.KeptRecords, j.Row.Attempt
		t.Unlock()
		var err error
		if end > cursor {
			since := cursor
			read := func(from, to int64, fn func(*sdk.Record, int64) error) error {
				return recordlog.Read(t.LogPath(j.Row.ID), from, to, fn)
			}
			if kept != nil {
				read = func(from, to int64, fn func(*sdk.Record, int64) error) error {
					return recordlog.ReadKept(kept, from, to, fn)
				}
			}
			err = read(cursor, end, func(r *sdk.Record, off int64) error {
				if err := ctx.Err(); err != nil {
					return err // the caller went away
				}
				if err := k.record(attempt, r); err != nil {
					return err
				}
				// Records count as received once they are out of the
				// sink; a caller gone midway gets the rest next time.
				if off-since >= receiveBatch {
					if err := sink.Flush(); err != nil {
						return err
					}
					since, cursor = off, off
					delivered(off)
				}
				return nil
			})
			if err == nil {
				err = sink.Flush()
			}
			if err == nil {
				cursor = end
				delivered(end)
			}
		}
		j.RecvMu.Unlock()
		if errors.Is(err, recordlog.ErrCorrupt) || errors.Is(err, recordlog.ErrTruncated) {
			return errorf(errkind.ErrDamaged, "job %d (%s): its records cannot all be read (%w); what came before the damage was received", j.Row.ID, j.Row.Name, err)
		}
		if err != nil {
			return err
		}
		if finished {
			if _, ok := sink.(Ender); ok {
				t.Lock()
				v := j.ViewLocked()
				attempt := j.Row.Attempt
				t.Unlock()
				if err := k.end(v, attempt); err != nil {
					return err
				}
			}
			break
		}
		if !o.Wait {
			break
		}
		if c, ok := sink.(CatchUpper); ok && !caughtUp {
			caughtUp = true
			if err := c.CaughtUp(j.Row.ID); err != nil {
				return err
			}
		}
		if err := sink.Flush(); err != nil {
			return err
		}
		if err := await(ctx, t, j, o, changed, k); err != nil {
			return err
		}
	}
	if o.AutoRemove {
		if err := sink.Flush(); err != nil {
			return err
		}
		return t.Remove(j)
	}
	return nil
}

// await blocks until j changes. A draining receiver that has read all of
// the log offers to take the next batch straight from the relay (see
// handOff) and writes it out here.
func await(ctx context.Context, t *jobs.Table, j *jobs.Job, o Options, changed chan struct{}, k *tracker) error {
	if o.Keep {
		select {
		case <-changed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan *jobs.Handoff, 1)
	t.Lock()
	if j.Waiter == nil && j.Log != nil && j.Log.Size() == j.Row.ReadOffset {
		j.Waiter = ch
	}
	t.Unlock()
	deliver := func(d *jobs.Handoff) error {
		// The attempt whose relay handed the batch over: one that
		// started after the offer was made (a retry) is the one running.
		t.Lock()
		attempt := j.Row.Attempt
		t.Unlock()
		err := recordlog.Each(d.Data, func(r *sdk.Record, _ []byte) error { return k.record(attempt, r) })
		if err == nil {
			err = k.sink.Flush()
		}
		t.Lock()
		if err == nil {
			// Delivered: a host that comes back must not ask the
			// runtime for these records again.
			j.Row.LastSeq = max(j.Row.LastSeq, d.LastSeq)
			if d.Abandoned && j.Row.ReadOffset == d.Start {
				// The relay gave up waiting and logged the batch too.
				j.Row.ReadOffset = d.End
				j.NotifyLocked()
			}
		}
		d.Done <- err
		t.Unlock()
		if err == nil {
			t.Checkpoint(j)
		}
		return err
	}
	var cause error
	select {
	case d := <-ch:
		return deliver(d)
	case <-changed:
	case <-ctx.Done():
		cause = ctx.Err()
	}
	// Withdraw the offer; a handoff may have raced in meanwhile.
	t.Lock()
	if j.Waiter == ch {
		j.Waiter = nil
	}
	t.Unlock()
	select {
	case d := <-ch:
		if cause != nil {
			t.Lock()
			d.Done <- cause
			t.Unlock()
			return cause
		}
		return deliver(d)
	default:
		return cause
	}
}
