package host

import (
	"context"

	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
)

// ReceiveOptions are Receive-Job's switches.
type ReceiveOptions struct {
	// Keep copies the records; otherwise they are drained.
	Keep bool
	// Wait streams records until the jobs finish.
	Wait bool
	// AutoRemove removes each job once it is finished and drained; it needs
	// Wait.
	AutoRemove bool
}

// Sink takes received records. The record is only valid during the call.
// Flush is called before Receive blocks waiting for more, so what the sink
// buffers reaches the user while the job runs.
type Sink interface {
	Record(jobID uint64, r *sdk.Record) error
	Flush() error
}

// Receive passes the selected jobs' unreceived records to sink, job by job.
func (h *Host) Receive(ctx context.Context, sel []string, o ReceiveOptions, sink Sink) error {
	if o.Keep && o.Wait {
		return errorf(ErrBadRequest, "--keep cannot be combined with --wait: waiting drains the records (as Receive-Job -Wait does)")
	}
	if o.AutoRemove && !o.Wait {
		return errorf(ErrBadRequest, "--auto-remove needs --wait")
	}
	h.mu.Lock()
	js, err := h.selectLocked(sel)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	for _, j := range js {
		if err := h.receiveJob(ctx, j, o, sink); err != nil {
			return err
		}
	}
	return sink.Flush()
}

func (h *Host) receiveJob(ctx context.Context, j *job, o ReceiveOptions, sink Sink) error {
	h.mu.Lock()
	cursor := j.row.ReadOffset
	h.mu.Unlock()
	moved := false
	defer func() {
		if moved {
			h.persist(j)
		}
	}()
	for {
		j.recvMu.Lock()
		h.mu.Lock()
		if j.removed {
			h.mu.Unlock()
			j.recvMu.Unlock()
			return nil // removed meanwhile
		}
		if !o.Keep {
			cursor = j.row.ReadOffset
		}
		finished, changed := j.row.State.Finished(), j.changed
		end := j.logEndLocked()
		h.mu.Unlock()
		var err error
		if end > cursor {
			err = recordlog.Read(h.logPath(j.row.ID), cursor, end, func(r *sdk.Record, _ int64) error {
				if err := ctx.Err(); err != nil {
					return err // the caller went away
				}
				return sink.Record(j.row.ID, r)
			})
			// Records count as received once they are out of the sink;
			// a caller gone midway gets them again next time.
			if err == nil {
				err = sink.Flush()
			}
			if err == nil {
				cursor = end
				if !o.Keep {
					h.mu.Lock()
					j.row.ReadOffset = end
					moved = true
					j.notifyLocked()
					h.mu.Unlock()
				}
			}
		}
		j.recvMu.Unlock()
		if err != nil {
			return err
		}
		if !o.Wait || finished {
			break
		}
		if err := sink.Flush(); err != nil {
			return err
		}
		if err := h.await(ctx, j, o, changed, sink); err != nil {
			return err
		}
	}
	if o.AutoRemove {
		if err := sink.Flush(); err != nil {
			return err
		}
		return h.removeJob(j)
	}
	return nil
}

// await blocks until j changes. A draining receiver that has read all of
// the log offers to take the next batch straight from the relay (see
// handOff) and writes it out here.
func (h *Host) await(ctx context.Context, j *job, o ReceiveOptions, changed chan struct{}, sink Sink) error {
	if o.Keep {
		select {
		case <-changed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan *handoff, 1)
	h.mu.Lock()
	if j.waiter == nil && j.log != nil && j.log.Size() == j.row.ReadOffset {
		j.waiter = ch
	}
	h.mu.Unlock()
	deliver := func(d *handoff) error {
		err := recordlog.Each(d.data, func(r *sdk.Record, _ []byte) error { return sink.Record(j.row.ID, r) })
		if err == nil {
			err = sink.Flush()
		}
		h.mu.Lock()
		if d.abandoned && err == nil && j.row.ReadOffset == d.start {
			// The relay gave up waiting and logged the batch too.
			j.row.ReadOffset = d.end
			j.notifyLocked()
		}
		d.done <- err
		h.mu.Unlock()
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
	h.mu.Lock()
	if j.waiter == ch {
		j.waiter = nil
	}
	h.mu.Unlock()
	select {
	case d := <-ch:
		if cause != nil {
			h.mu.Lock()
			d.done <- cause
			h.mu.Unlock()
			return cause
		}
		return deliver(d)
	default:
		return cause
	}
}
