package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
)

// relay streams j's records from its runtime into the job's log until the
// job ends, acknowledging each batch once it is written. after is the last
// sequence number already persisted (non-zero when reattaching).
//
// If the host closes meanwhile, relay just returns: the runtime keeps the
// unacknowledged batches and the next host asks for them again.
func (h *Host) relay(j *job, l *launched, after uint64) {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()

	h.mu.Lock()
	r := j.row
	h.mu.Unlock()
	stream, err := l.conn.Run(ctx, r.toSDK(), after)
	if err != nil {
		h.runtimeLost(j, l, fmt.Errorf("the job could not be handed to it: %w", err))
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
			if err := l.conn.Ack(ctx, r.ID, persistedSeq.Load(), false); err != nil {
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
			h.runtimeLost(j, l, err)
			return
		}
		if len(b.Records) > 0 && b.LastSeq > persisted {
			data := b.Records
			if b.FirstSeq <= persisted {
				if data, err = recordsAfter(data, persisted); err != nil {
					h.runtimeLost(j, l, fmt.Errorf("the runtime sent a malformed batch: %w", err))
					return
				}
			}
			if h.handOff(j, data) {
				// A waiting receiver took the records: they are received,
				// and the log needs them no more than a drained record.
			} else if err := j.log.append(data); err != nil {
				h.log.Error("cannot persist records; stopping the job", "job", r.ID, "err", err)
				_ = l.conn.Stop(ctx, r.ID, 0)
				h.runtimeLost(j, l, err)
				return
			}
			persisted = b.LastSeq
			persistedSeq.Store(persisted)
			h.mu.Lock()
			j.row.LastSeq = persisted
			j.notifyLocked()
			h.mu.Unlock()
			select {
			case ackCh <- struct{}{}:
			default:
			}
		}
		if b.Done != nil {
			h.finishFromRuntime(j, l, b.Done)
			return
		}
	}
}

// handoff is a batch passed straight to a draining receiver; done says
// whether it reached the caller (if not, the relay writes it to the log).
type handoff struct {
	data []byte
	done chan error
}

// handOff gives data to a `receive --wait` that has read everything in the
// log and is waiting for more, and waits until it has written it out. This
// keeps the common `start --wait` from writing all output to disk only to
// read it straight back; the order of records is kept because a handoff
// happens only when nothing is waiting in the log.
func (h *Host) handOff(j *job, data []byte) bool {
	h.mu.Lock()
	w := j.waiter
	if w == nil || j.log.Size() != j.row.ReadOffset {
		h.mu.Unlock()
		return false
	}
	j.waiter = nil
	// Sent under the lock (w has room for one), so a receiver withdrawing
	// its offer under the lock either finds it here or in its channel.
	d := &handoff{data: data, done: make(chan error, 1)}
	w <- d
	h.mu.Unlock()
	return <-d.done == nil
}

// finishFromRuntime records how the runtime says the job ended, then lets
// the runtime go.
func (h *Host) finishFromRuntime(j *job, l *launched, d *sdk.Done) {
	state, code := api.Completed, int(d.ExitCode)
	switch d.State {
	case sdk.Failed:
		state = api.Failed
	case sdk.Stopped:
		state = api.Stopped
	}
	if err := j.log.close(); err != nil {
		h.log.Error("cannot sync the record log", "job", j.row.ID, "err", err)
	}
	h.mu.Lock()
	h.finishLocked(j, state, d.Reason, &code)
	h.persistLocked(j)
	seq := j.row.LastSeq
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = l.conn.Ack(ctx, j.row.ID, seq, true)
	cancel()
	h.release(j, l)
}

// runtimeLost fails a job whose runtime went away before saying how the job
// ended: a crash, a kill, a broken connection.
func (h *Host) runtimeLost(j *job, l *launched, cause error) {
	// Give go-plugin a moment to notice the process exit, for the reason.
	for i := 0; i < 20 && !l.client.Exited(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	_ = j.log.close()
	h.mu.Lock()
	stopping := j.row.State == api.Stopping
	what := "lost its connection to the host"
	if l.client.Exited() {
		what = "exited"
	}
	pid := 0
	if l.reattach != nil {
		pid = l.reattach.Pid
	}
	reason := fmt.Sprintf("the runtime %s %s (pid %d) %s before the job ended, so it crashed or was killed (%v); the %d records it sent before are kept; its log is %s",
		j.row.Runtime.Name, j.row.Runtime.Version, pid, what, cause, j.row.LastSeq, h.runtimeLogPath(j.row.ID))
	state := api.Failed
	if stopping {
		state, reason = api.Stopped, "stopped; the runtime was killed"
	}
	h.finishLocked(j, state, reason, nil)
	h.persistLocked(j)
	h.mu.Unlock()
	h.release(j, l)
}

// release ends the runtime process and frees the job's slot.
func (h *Host) release(j *job, l *launched) {
	h.mu.Lock()
	j.rt = nil
	h.running--
	if j.logFile != nil {
		j.logFile.Close()
		j.logFile = nil
	}
	h.scheduleLocked()
	h.mu.Unlock()
	// The job is over; its runtime's exit need not hold up the next one.
	go func() {
		l.client.Kill()
		_ = os.RemoveAll(h.sockDir(j.row.ID))
		if l.reattach != nil {
			_ = os.RemoveAll(l.reattach.SockDir)
		}
	}()
}

func (r *row) toSDK() *sdk.Job {
	return &sdk.Job{
		Id: r.ID, InstanceId: r.InstanceID, Name: r.Name, Type: r.PSJobTypeName,
		Script: r.Spec.Script, Init: r.Spec.Init, Args: r.Spec.Args, Input: r.Spec.Input,
		Workdir: r.Workdir, Env: r.Spec.Env, Command: r.Command,
	}
}
