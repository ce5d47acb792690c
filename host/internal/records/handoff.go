package records

import (
	"context"
	"time"

	"github.com/bgjob/bgjob/host/internal/jobs"
)

// handoffWait bounds how long a relay waits for a receiver to write a batch
// out: a caller that stops reading (output piped into a paused pager) must
// not stall the job, a stop or the host's shutdown.
const handoffWait = 2 * time.Second

// handOff gives data to a `receive --wait` that has read everything in the
// log and is waiting for more, and waits until it has written it out. This
// keeps the common `start --wait` from writing all output to disk only to
// read it straight back; the order of records is kept because a handoff
// happens only when nothing is waiting in the log. It reports whether the
// batch is taken care of (delivered, or written to the log meanwhile).
func HandOff(ctx context.Context, t *jobs.Table, j *jobs.Job, data []byte, lastSeq uint64) (bool, error) {
	t.Lock()
	w := j.Waiter
	if w == nil || j.Log == nil || j.Log.Size() != j.Row.ReadOffset {
		t.Unlock()
		return false, nil
	}
	j.Waiter = nil
	// Sent under the lock (w has room for one), so a receiver withdrawing
	// its offer under the lock either finds it here or in its channel.
	d := &jobs.Handoff{Data: data, LastSeq: lastSeq, Done: make(chan error, 1)}
	w <- d
	t.Unlock()
	timer := time.NewTimer(handoffWait)
	defer timer.Stop()
	select {
	case err := <-d.Done:
		return err == nil, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	// Too slow, or the host is closing: keep the batch in the log. The
	// receiver may still deliver it; see handoff.
	t.Lock()
	defer t.Unlock()
	select {
	case err := <-d.Done:
		if err == nil {
			return true, nil
		}
	default:
	}
	d.Start = j.Log.Size()
	if err := j.Log.Append(data); err != nil {
		return false, err
	}
	d.Abandoned, d.End = true, j.Log.Size()
	return true, nil
}
