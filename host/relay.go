package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
)

// relay streams j's records from its runtime into the job's log until the
// job ends, acknowledging each batch once it is written. after is the last
// sequence number already persisted (non-zero when reattaching).
//
// If the host closes meanwhile, relay just returns: the runtime keeps the
// unacknowledged batches and the next host asks for them again.
func (h *Host) relay(j *job, p launch.Process, payload *sdk.Job, after uint64) {
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()

	h.mu.Lock()
	r := j.row
	h.mu.Unlock()
	stream, err := p.Conn().Run(ctx, payload, after)
	if err != nil {
		if ctx.Err() != nil {
			return // the host is closing; the next one reattaches
		}
		h.runtimeLost(j, p, fmt.Errorf("the job could not be handed to it: %w", err))
		return
	}

	// One acknowledgement in flight at a time, always for the newest
	// persisted record: a fast job gets few acks, a slow one gets each.
	var persistedSeq atomic.Uint64
	persistedSeq.Store(after)
	ackCh := make(chan struct{}, 1)
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		for range ackCh {
			// A failed ack is retried with the next one; the relay ends
			// anyway if the runtime is gone.
			if err := p.Conn().Ack(ctx, r.ID, persistedSeq.Load(), false); err != nil && ctx.Err() != nil {
				return
			}
		}
	}()
	defer func() {
		close(ackCh)
		<-ackDone
	}()

	persisted := after
	for {
		b, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return // the host is closing
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the record stream ended without the job's end")
			}
			h.runtimeLost(j, p, err)
			return
		}
		data, err := recordlog.Fresh(b, persisted)
		if err != nil {
			h.runtimeLost(j, p, fmt.Errorf("the runtime sent a malformed batch: %w", err))
			return
		}
		if len(data) > 0 {
			taken, err := h.handOff(ctx, j, data, b.LastSeq)
			if !taken && err == nil {
				// No receiver took them: into the log. (A receiver that
				// did has made them received; the log needs them no more
				// than a drained record.)
				err = j.log.Append(data)
			}
			if err != nil {
				h.log.Error("cannot persist records; stopping the job", "job", r.ID, "err", err)
				h.storeFailed(ctx, j, p, err)
				return
			}
			persisted = b.LastSeq
			persistedSeq.Store(persisted)
			h.mu.Lock()
			j.row.LastSeq = max(j.row.LastSeq, persisted)
			j.notifyLocked()
			h.mu.Unlock()
			h.checkpoint(j)
			select {
			case ackCh <- struct{}{}:
			default:
			}
		}
		if b.Done != nil {
			h.finishFromRuntime(j, p, b.Done)
			return
		}
	}
}

// handoff is a batch passed straight to a draining receiver. done says
// whether it reached the caller. If the receiver takes too long, the relay
// abandons the wait and writes the batch to the log at [start, end); a
// receiver that then does deliver it moves the read offset past that range,
// so it is not received twice.
type handoff struct {
	data       []byte
	lastSeq    uint64
	done       chan error
	abandoned  bool // guarded by Host.mu
	start, end int64
}

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
func (h *Host) handOff(ctx context.Context, j *job, data []byte, lastSeq uint64) (bool, error) {
	h.mu.Lock()
	w := j.waiter
	if w == nil || j.log == nil || j.log.Size() != j.row.ReadOffset {
		h.mu.Unlock()
		return false, nil
	}
	j.waiter = nil
	// Sent under the lock (w has room for one), so a receiver withdrawing
	// its offer under the lock either finds it here or in its channel.
	d := &handoff{data: data, lastSeq: lastSeq, done: make(chan error, 1)}
	w <- d
	h.mu.Unlock()
	t := time.NewTimer(handoffWait)
	defer t.Stop()
	select {
	case err := <-d.done:
		return err == nil, nil
	case <-t.C:
	case <-ctx.Done():
	}
	// Too slow, or the host is closing: keep the batch in the log. The
	// receiver may still deliver it; see handoff.
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case err := <-d.done:
		if err == nil {
			return true, nil
		}
	default:
	}
	d.start = j.log.Size()
	if err := j.log.Append(data); err != nil {
		return false, err
	}
	d.abandoned, d.end = true, j.log.Size()
	return true, nil
}

// finishFromRuntime records how the runtime says the job ended, then lets
// the runtime go.
func (h *Host) finishFromRuntime(j *job, p launch.Process, d *sdk.Done) {
	state, code := protocol.Ended(d)
	if err := j.log.Close(); err != nil {
		h.log.Error("cannot sync the record log", "job", j.row.ID, "err", err)
	}
	h.mu.Lock()
	h.finishLocked(j, state, d.Reason, &code)
	seq := j.row.LastSeq
	h.mu.Unlock()
	h.persist(j) // before the runtime may forget the job
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = p.Conn().Ack(ctx, j.row.ID, seq, true)
	cancel()
	h.release(j, p)
}

// runtimeLost fails a job whose runtime went away before saying how the job
// ended: a crash, a kill, a broken connection.
func (h *Host) runtimeLost(j *job, p launch.Process, cause error) {
	// Give the launcher a moment to notice the process exit, for the reason.
	for i := 0; i < 20 && !p.Exited(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	what := "lost its connection to the host"
	if p.Exited() {
		what = "exited"
	}
	// Whatever the job started dies with it: nothing is left that no stop
	// could reach.
	p.Kill()
	_ = j.log.Close()
	h.mu.Lock()
	stopping := j.row.State == api.Stopping
	reason := fmt.Sprintf("the runtime %s %s (pid %d) %s before the job ended, so it crashed or was killed (%v); the records it sent before (up to number %d) are kept; its log is %s",
		j.row.Runtime.Name, j.row.Runtime.Version, p.Pid(), what, cause, j.row.LastSeq, h.runtimeLogPath(j.row.ID))
	state := api.Failed
	if stopping {
		state, reason = api.Stopped, "stopped; the runtime was killed"
	}
	h.finishLocked(j, state, reason, nil)
	h.mu.Unlock()
	h.persist(j)
	h.release(j, p)
}

// storeFailed ends a job whose records the host cannot store (a full disk,
// say): the runtime still holds them, but a job that cannot be recorded
// must not run on unrecorded. It fails with that reason, not as a crash.
func (h *Host) storeFailed(ctx context.Context, j *job, p launch.Process, cause error) {
	sctx, cancel := context.WithTimeout(ctx, stopAnswer)
	_ = p.Conn().Stop(sctx, j.row.ID, 0)
	cancel()
	p.Kill()
	_ = j.log.Close()
	h.mu.Lock()
	reason := fmt.Sprintf("the host cannot store the job's records (%v), so the job was stopped; the records up to number %d are kept", cause, j.row.LastSeq)
	if errors.Is(cause, syscall.ENOSPC) {
		reason = fmt.Sprintf("the disk holding the job's records is full (%v), so the job was stopped; the records up to number %d are kept; free space and start it again", cause, j.row.LastSeq)
	}
	h.finishLocked(j, api.Failed, reason, nil)
	h.mu.Unlock()
	h.persist(j)
	h.release(j, p)
}

// release gives the runtime process back and frees the job's slot. A
// process whose job ended cleanly (completed, or failed by its own exit
// status) may run the next job of its spec; one whose job was stopped, or
// that crashed or was lost, is ended.
func (h *Host) release(j *job, p launch.Process) {
	h.mu.Lock()
	j.rt = nil
	h.freeSlotLocked(j)
	// A negative status is the runtime's own failure (a panic, a working
	// directory it could not enter), not the script's.
	clean := j.row.State == api.Completed || (j.row.State == api.Failed && j.row.ExitCode != nil && *j.row.ExitCode >= 0)
	// Read now: the row may be another run's by the time the goroutine
	// runs (restart --in-place).
	thread := j.row.ThrottleLimit != 0
	h.scheduleLocked()
	h.mu.Unlock()
	// The job is over; its runtime's exit need not hold up the next one.
	h.goAsync(func() {
		if r, ok := p.(launch.Recycler); ok && clean && !thread {
			r.Recycle()
		} else {
			p.Release()
		}
	})
}
