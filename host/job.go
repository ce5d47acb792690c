package host

import (
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
)

// job is a row plus what the host holds for it while it lives.
type job struct {
	row     store.Row     // guarded by Host.mu
	changed chan struct{} // closed and replaced on every change; guarded by Host.mu
	log     *recordlog.Writer
	recvMu  sync.Mutex // one draining receive at a time
	// persistMu orders writes of this job's row; taken before Host.mu.
	persistMu sync.Mutex
	rt        launch.Process // the runtime while the job runs; guarded by Host.mu
	waiter    chan *handoff  // a caught-up draining receiver; guarded by Host.mu
	removed   bool           // guarded by Host.mu
	// detached is how to find the runtime of a job the previous host left
	// suspended: it is reattached when resumed. Guarded by Host.mu.
	detached *attachRecord
	// children are a parent's child jobs (a job on Slurm); guarded by
	// Host.mu. tailOff and tailSeq are where the host has read a child's
	// task log to (whole records) and the last number there; the Slurm
	// poller alone uses them.
	children []*job
	tailOff  int64
	tailSeq  uint64
	// submitting marks a parent whose submission to Slurm is under way:
	// the poller leaves it alone. Guarded by Host.mu.
	submitting bool
	// endAt is when the Slurm poller first saw a child's task end.
	endAt    time.Time
	draining int // draining receives in progress; guarded by Host.mu
	// unreadable marks a job whose row could not be read: it is never
	// written back, only removed.
	unreadable bool
}

func newJob(r *store.Row) *job {
	return &job{row: *r, changed: make(chan struct{})}
}

// notifyLocked wakes everyone waiting on j.
func (j *job) notifyLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// logEndLocked is where the job's record log ends now: the open log knows,
// and the row remembers it for a job loaded from the table.
func (j *job) logEndLocked() int64 {
	if j.log != nil {
		return j.log.Size()
	}
	return j.row.LogSize
}

// viewLocked returns the job as a user sees it.
func (j *job) viewLocked() *api.Job {
	v := j.row.Job
	v.HasMoreData = !v.State.Finished() || j.logEndLocked() > j.row.ReadOffset
	// A parent's data is its children's, as in PowerShell.
	for _, k := range j.children {
		if kv := k.viewLocked(); kv.HasMoreData {
			v.HasMoreData = true
		}
	}
	return &v
}

// finishLocked moves j to a finished state. code is the exit code, if any.
func (h *Host) finishLocked(j *job, state api.State, reason string, code *int) {
	now := time.Now()
	j.row.State = state
	j.row.StateReason = reason
	j.row.ExitCode = code
	j.row.PSEndTime = &now
	if j.row.PSBeginTime == nil {
		j.row.PSBeginTime = &now
	}
	j.row.LogSize = j.logEndLocked()
	if j.log != nil {
		_ = j.log.Close() // a no-op when the relay closed it already
	}
	j.notifyLocked()
}

// persist writes j's row as it is now. The write (a bbolt transaction,
// fsynced) happens outside Host.mu, so one job's state change does not hold
// up every other; j.persistMu keeps writes of one job in the order their
// copies were taken, so the last write is the newest state. A failure is
// logged: the table in memory stays right and the next write catches up.
func (h *Host) persist(j *job) {
	if h.persistRow(j) {
		// A job that ends may take an older one past the clean-up
		// policy's limits (this job itself, with a short --keep-for).
		h.cleanup()
	}
}

// persistRow is persist's write; it reports whether the row written is
// finished.
func (h *Host) persistRow(j *job) (finished bool) {
	j.persistMu.Lock()
	defer j.persistMu.Unlock()
	h.mu.Lock()
	if j.removed || j.unreadable {
		h.mu.Unlock()
		return false
	}
	j.row.LogSize = j.logEndLocked()
	r := j.row
	settled := r.State.Finished() && j.draining == 0
	h.mu.Unlock()
	if err := h.store.Put(&r); err != nil {
		h.log.Error("cannot persist job", "job", r.ID, "err", err)
		return false
	}
	if r.State.Finished() {
		// Its runtime is no longer to be found again.
		h.journal.DropAttach(r.ID)
	}
	if settled {
		// The row now says all the cursor did, and nothing moves any more.
		h.cursors.Drop(r.ID)
	}
	return r.State.Finished()
}

// checkpoint records where j's records stand now (see store.Cursor), cheaply
// and without a sync, between writes of its row.
func (h *Host) checkpoint(j *job) {
	h.mu.Lock()
	if j.removed {
		h.mu.Unlock()
		return
	}
	c := store.Cursor{LogSize: j.logEndLocked(), LastSeq: j.row.LastSeq, ReadOffset: j.row.ReadOffset}
	h.mu.Unlock()
	if err := h.cursors.Set(j.row.ID, c); err != nil {
		h.log.Warn("cannot record where a job's records stand", "job", j.row.ID, "err", err)
	}
}
