package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/internal/records"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// relay streams j's records from its runtime into the job's log until the
// job ends, acknowledging each batch once it is written. after is the last
// sequence number already persisted (non-zero when reattaching).
//
// If the host closes meanwhile, relay just returns: the runtime keeps the
// unacknowledged batches and the next host asks for them again.
func (tk *task) relay(payload *sdk.Job, after uint64) {
	m, j, p := tk.m, tk.j, tk.p
	ctx, cancel := context.WithCancel(m.t.Ctx())
	defer cancel()
	defer tk.armTimeout()()

	m.t.Lock()
	r := j.Row
	m.t.Unlock()
	// The run this is: its acknowledgements name it, so that one still on
	// its way when the job runs again (a retry) is not taken for the next.
	tk.run = protocol.RunOf(payload)
	stream, err := p.Conn().Run(ctx, payload, after)
	if err != nil {
		if ctx.Err() != nil {
			return // the host is closing; the next one reattaches
		}
		tk.runtimeLost(fmt.Errorf("the job could not be handed to it: %w", err))
		return
	}
	// The runtime has the job now (a plugin answers Run once it has
	// taken the job): a send waiting for it may go ahead.
	m.t.Lock()
	j.Handed = p
	j.NotifyLocked()
	m.t.Unlock()

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
			if err := p.Conn().Ack(ctx, tk.run, persistedSeq.Load(), false); err != nil && ctx.Err() != nil {
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
			tk.runtimeLost(err)
			return
		}
		data, err := recordlog.Fresh(b, persisted)
		if err != nil {
			tk.runtimeLost(fmt.Errorf("the runtime sent a malformed batch: %w", err))
			return
		}
		if len(data) > 0 {
			taken, err := records.HandOff(ctx, m.t, j, data, b.LastSeq)
			if !taken && err == nil && b.Done != nil {
				// All the job's records, with its end, and few: kept in
				// its row rather than in a file of their own. They go
				// there with the end (keptLocked), so the row's commit
				// makes both durable at once, and nothing sees them
				// before: a host killed meanwhile knows nothing of them,
				// and the runtime, which has them until the end's
				// acknowledgement, sends them again.
				var kept bool
				if tk.kept, kept, err = j.Log.Keep(data, maxKept); kept {
					tk.keptLast = b.LastSeq
					tk.finishFromRuntime(b.Done)
					return
				}
			}
			if !taken && err == nil {
				// No receiver took them: into the log. (A receiver that
				// did has made them received; the log needs them no more
				// than a drained record.)
				err = j.Log.Append(data)
			}
			if err != nil {
				m.log.Error("cannot persist records; stopping the job", "job", r.ID, "err", err)
				tk.storeFailed(ctx, err)
				return
			}
			persisted = b.LastSeq
			persistedSeq.Store(persisted)
			m.t.Lock()
			j.Row.LastSeq = max(j.Row.LastSeq, persisted)
			j.NotifyLocked()
			m.t.Unlock()
			m.t.Checkpoint(j)
			// With the end in the same batch, the end's acknowledgement
			// (finishFromRuntime) covers these records too: one call to
			// the runtime a job, not two.
			if b.Done == nil {
				select {
				case ackCh <- struct{}{}:
				default:
				}
			}
		}
		if b.Done != nil {
			tk.finishFromRuntime(b.Done)
			return
		}
	}
}

// maxKept is the most a job's records may come to, as the log would hold
// them, to be kept in its row rather than in a file (recordlog.Writer.Keep):
// a few lines (a record of a short line takes about 40 bytes), no more
// than the row's own size. The table holds its rows in memory: a batch of
// 100,000 children keeps at most 100 MB there, its output in files would be
// as large on disk.
const maxKept = 1 << 10

// finishFromRuntime records how the runtime says the job ended, then lets
// the runtime go.
//
// A job whose collector (start --wait, receive --wait --auto-remove) has
// taken all of it is about to be removed: its end is not written, only the
// deletion of its row, and its log is not synced. That is three syncs of
// the five a trivial start --wait paid after its job ended. The runtime
// still holds the end until the row is gone, so a host killed before that
// learns the end again from it, as for any job.
func (tk *task) finishFromRuntime(d *sdk.Done) {
	m, j := tk.m, tk.j
	state, code, reason := protocol.Ended(d)
	if tk.finishBatchChild(state, reason, code, d.EndedUnixNano) {
		return
	}
	m.t.Lock()
	// Records kept for the row (see relay) are the collector's to read
	// still: they were not handed to it.
	collect := tk.kept == nil && j.Collectors > 0 && j.Row.ReadOffset >= j.LogEndLocked()
	m.t.Unlock()
	var err error
	if collect {
		err = j.Log.CloseUnsynced()
	} else {
		err = j.Log.Close()
	}
	if err != nil {
		m.log.Error("cannot sync the record log", "job", j.Row.ID, "err", err)
	}
	m.t.Lock()
	// The kept records join the row with the end, in one locked step: no
	// write of the row has them without it.
	tk.keptLocked()
	// The last record this attempt relayed, which the end's
	// acknowledgement covers: read before FinishLocked, which starts a job
	// that runs again (--retries) from 0.
	seq := j.Row.LastSeq
	m.t.FinishLocked(j, state, reason, &code)
	ended := j.Row.State.Finished() // not when it runs again (--retries)
	if ended {
		endedAt(&j.Row, d.EndedUnixNano)
	}
	m.t.Unlock()
	if !collect || !ended || !m.t.AwaitRemoved(j, collectWait) {
		if collect {
			if err := recordlog.SyncFile(m.t.LogPath(j.Row.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				m.log.Error("cannot sync the record log", "job", j.Row.ID, "err", err)
			}
		}
		if err := m.t.Persist(j); err != nil {
			// Not written: the runtime keeps the end, and its records,
			// for the next host, which asks for them again.
			tk.release()
			return
		}
	}
	tk.ackEnd(seq)
	tk.release()
}

// ackEnd acknowledges the run's end, which has been written, to its
// runtime. Nobody waits for the acknowledgement's answer about reuse when
// the process is shared (a thread job's) or when the end said already that
// the process takes another (protocol.Reuser), so the acknowledgement may
// ride on the next job the process is given (protocol.EndAcker): a call
// fewer per job. Paired over 300 trivial jobs one by one (five rounds
// after a warm-up): the machine's CPU a job 3.11 ms before, 2.98 ms after.
func (tk *task) ackEnd(seq uint64) {
	c := tk.p.Conn()
	if ea, ok := c.(protocol.EndAcker); ok && (tk.j.Row.ThrottleLimit > 0 || endAnswered(c)) {
		ea.AckEnd(tk.run, seq)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.Ack(ctx, tk.run, seq, true)
	cancel()
}

// endAnswered reports whether c's runtime said with the job's end that its
// process takes another job (Done.reuse). A process that takes none is let
// go at once, so its end is acknowledged by Ack first, as before.
func endAnswered(c protocol.Conn) bool {
	r, ok := c.(protocol.Reuser)
	if !ok {
		return false
	}
	yes, known := r.TakesAnother()
	return yes && known
}

// keptLocked puts the records relay kept for the job's row there, with the
// job's end, which is about to be written.
func (tk *task) keptLocked() {
	if tk.kept == nil {
		return
	}
	j := tk.j
	j.Row.KeptRecords, j.Row.LastSeq = tk.kept, max(j.Row.LastSeq, tk.keptLast)
	tk.kept = nil
	j.NotifyLocked()
}

// collectWait is how long a job's end waits for its collector to remove it
// before it is written after all. The collector has everything already and
// removes the job at once; only a caller that stalls makes it wait.
const collectWait = 2 * time.Second

// runtimeLost fails a job whose runtime went away before saying how the job
// ended: a crash, a kill, a broken connection.
func (tk *task) runtimeLost(cause error) {
	m, j, p := tk.m, tk.j, tk.p
	// Give the launcher a moment to notice the process exit, for the reason.
	for i := 0; i < 20 && !p.Exited(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	what := "lost its connection to the host"
	if p.Exited() {
		what = "exited"
		if es, ok := p.(launch.ExitStatuser); ok {
			if how := es.ExitStatus(); how != "" {
				what = "exited (" + how + ")"
			}
		}
	}
	// Whatever the job started dies with it: nothing is left that no stop
	// could reach.
	p.Kill()
	_ = j.Log.Close()
	m.t.Lock()
	stopping := j.Row.State == api.Stopping
	reason := fmt.Sprintf("the runtime %s %s (pid %d) %s before the job ended, so it crashed or was killed (%v); the records it sent before (up to number %d) are kept; its log is %s",
		j.Row.Runtime.Name, j.Row.Runtime.Version, p.Pid(), what, cause, j.Row.LastSeq, m.t.RuntimeLogPath(j.Row.ID))
	state := api.Failed
	if stopping {
		state, reason = api.Stopped, "stopped; the runtime was killed"
	}
	m.t.FinishLocked(j, state, reason, nil)
	m.t.Unlock()
	m.t.Persist(j)
	tk.release()
}

// storeFailed ends a job whose records the host cannot store (a full disk,
// say): the runtime still holds them, but a job that cannot be recorded
// must not run on unrecorded. It fails with that reason, not as a crash.
func (tk *task) storeFailed(ctx context.Context, cause error) {
	m, j, p := tk.m, tk.j, tk.p
	sctx, cancel := context.WithTimeout(ctx, stopAnswer)
	_ = p.Conn().Stop(sctx, j.Row.ID, 0)
	cancel()
	p.Kill()
	_ = j.Log.Close()
	m.t.Lock()
	reason := fmt.Sprintf("the host cannot store the job's records (%v), so the job was stopped; the records up to number %d are kept", cause, j.Row.LastSeq)
	if errors.Is(cause, syscall.ENOSPC) {
		reason = fmt.Sprintf("the disk holding the job's records is full (%v), so the job was stopped; the records up to number %d are kept; free space and start it again", cause, j.Row.LastSeq)
	}
	m.t.FinishLocked(j, api.Failed, reason, nil)
	m.t.Unlock()
	m.t.Persist(j)
	tk.release()
}

// release gives the runtime process back and frees the job's slot. A
// process whose job ended cleanly (completed, or failed by its own exit
// status) may run the next job of its spec; one whose job was stopped, or
// that crashed or was lost, is ended.
//
// The process is offered back before the slot is freed: the job the slot
// lets start then finds it ready. Offered after, the next job (a batch's
// next child, say) found no process, started one of its own, and the one
// coming back was ended for want of room: a batch of 1000 children started
// 256 processes instead of a handful.
func (tk *task) release() {
	kept := tk.recycle()
	tk.m.t.Lock()
	tk.freeLocked()
	tk.m.t.Unlock()
	if !kept {
		tk.m.t.Go(tk.p.Release) // its exit need not hold up the next job
	}
}

// freeLocked frees the job's slot and lets the queue start the next.
func (tk *task) freeLocked() {
	tk.j.RT, tk.j.Handed = nil, nil
	tk.m.t.FreeSlotLocked(tk.j)
	tk.m.t.ScheduleLocked()
}

// recycle offers the job's runtime process back for the next job, if the
// job ended cleanly and had the process to itself, and reports whether the
// launcher kept it.
func (tk *task) recycle() bool {
	m, j, p := tk.m, tk.j, tk.p
	m.t.Lock()
	// A negative status is the runtime's own failure (a panic, a working
	// directory it could not enter), not the script's. A job a stop was
	// asked of may have completed just before the stop arrived: the stop,
	// not taken by a runtime that has forgotten the job, then kills the
	// process, which must not be running another job by then.
	clean := !j.StopAsked && (j.Row.State == api.Completed || (j.Row.State == api.Failed && j.Row.ExitCode != nil && *j.Row.ExitCode >= 0))
	// Read now: the row may be another run's later (restart --in-place).
	thread := j.Row.ThrottleLimit != 0
	m.t.Unlock()
	r, ok := p.(launch.Recycler)
	return ok && clean && !thread && r.Recycle()
}

// finishBatchChild ends a batch's child job (start --foreach) the way
// finishFromRuntime does, in another order, and reports whether j is one.
// Its end is shown first (and a thread child's slot freed, so the next
// child starts at once); then its log is synced and its row written
// together with the other children ending about now (one transaction and
// sync for them all), and only then may the runtime forget it. A host
// killed in between finds the job's runtime still holding its end, as for
// any job.
func (tk *task) finishBatchChild(state api.State, reason string, code int, endedNs int64) bool {
	m, j, p := tk.m, tk.j, tk.p
	m.t.Lock()
	if !jobs.IsBatchChild(&j.Row) {
		m.t.Unlock()
		return false
	}
	// The log is synced below, outside the table's lock (FinishLocked
	// would sync it under it): a finished job's row says where its log
	// ends, as for a job loaded from the table.
	tk.keptLocked()
	lg := j.Log
	j.Row.LogSize, j.Log = j.LogEndLocked(), nil
	seq := j.Row.LastSeq // before FinishLocked, as in finishFromRuntime
	m.t.FinishLocked(j, state, reason, &code)
	if j.Row.State.Finished() {
		endedAt(&j.Row, endedNs) // as finishFromRuntime
	}
	// A thread child's slot is free at once. A process child keeps its
	// slot until its runtime is back for the next job: the next child
	// then reuses it instead of starting a process of its own. A child
	// whose attempt runs again keeps it until its row is written too:
	// freed, its next attempt could start at once, and the row written
	// below would then say it runs, before that attempt's runtime is
	// recorded (Run records it); a host killed in between found the last
	// attempt's record, its process gone, and failed the child.
	early := j.Row.ThrottleLimit != 0 && j.Row.State.Finished()
	if early {
		tk.freeLocked()
	}
	m.t.Unlock()
	if err := lg.Close(); err != nil {
		m.log.Error("cannot sync the record log", "job", j.Row.ID, "err", err)
	}
	// Its commit is shared with the children ending meanwhile (group
	// commit). An end not written is not acknowledged (see
	// finishFromRuntime).
	if err := m.t.Persist(j); err == nil {
		tk.ackEnd(seq)
	}
	if early {
		m.t.Go(p.Release) // a thread child's handle on its shared process
	} else {
		tk.release()
	}
	return true
}

// endedAt records that r's job ended at the runtime's time (Unix ns, 0:
// not told), not when the host heard of it, which for a job that ended
// while no host ran is when the next host took its runtime back: its
// duration would count the host's absence. Only a time between the job's
// start and now is taken (the runtime's clock is the machine's own).
func endedAt(r *store.Row, ns int64) {
	if ns <= 0 || r.PSEndTime == nil {
		return
	}
	t := time.Unix(0, ns)
	if t.Before(*r.PSEndTime) && (r.PSBeginTime == nil || !t.Before(*r.PSBeginTime)) {
		r.PSEndTime = &t
	}
}
