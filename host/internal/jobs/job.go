package jobs

import (
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
)

// Job is a row plus what the host holds for it while it lives.
type Job struct {
	Row     store.Row     // guarded by Host.mu
	Changed chan struct{} // closed and replaced on every change; guarded by Host.mu
	Log     *recordlog.Writer
	RecvMu  sync.Mutex // one draining receive at a time
	// PersistMu orders writes of this job's row; taken before Host.mu.
	PersistMu sync.Mutex
	RT        launch.Process // the runtime while the job runs; guarded by Host.mu
	// Handed is RT once RT has the job (its Run was answered): input for
	// the job (bgjob send) can go to it then. Guarded by Host.mu.
	Handed  launch.Process
	Waiter  chan *Handoff // a caught-up draining receiver; guarded by Host.mu
	Removed bool          // guarded by Host.mu
	// Detached is how to find the runtime of a job the previous host left
	// suspended: it is reattached when resumed. Guarded by Host.mu.
	Detached *AttachRecord
	// Children are a parent's child jobs (a job on Slurm); guarded by
	// Host.mu.
	Children []*Job
	Draining int // draining receives in progress; guarded by Host.mu
	// Collectors are the draining receives that remove the job once it
	// has ended and they have passed on all of it (start --wait, receive
	// --wait --auto-remove); guarded by Host.mu. The job's end need not
	// be made durable for a row about to be deleted (see AwaitRemoved).
	Collectors int
	// Unreadable marks a job whose row could not be read: it is never
	// written back, only removed.
	Unreadable bool
	// Retrying is set while the end of an attempt that runs again is
	// told (see FinishLocked).
	Retrying bool
	// Slot is the job's slot in its group while it holds one (SlotHeld):
	// the lowest free of 0..limit-1 when it started, which the job sees as
	// $BGJOB_SLOT. Guarded by Host.mu.
	Slot     int
	SlotHeld bool
	// hold is why the queue left the job NotStarted when it last looked,
	// unless it waits for a slot: its lane or batch says so then (see
	// hold.go). Guarded by Host.mu.
	hold hold
	// TimedOut marks a job its --timeout is stopping: its stop is a
	// failure. Guarded by Host.mu.
	TimedOut bool
	// Records counts the times the job's records started afresh (a
	// retry's attempt replaces the last one's): a receive that read an
	// earlier attempt's log does not move the new attempt's read offset.
	// Guarded by Host.mu.
	Records uint64
	// Launching marks a job the queue started whose runner has not yet
	// taken its runtime or given up (runner.Manager.Run): a stop then
	// finds no runtime and ends the job at once, and a restart in place
	// waits for the runner to see that (AwaitLaunched), so that the old
	// start never runs alongside the new. Guarded by Host.mu.
	Launching bool
	// StopAsked marks a job whose runtime was asked to stop it (stop,
	// --timeout) in this attempt: that runtime process is never given
	// another job, even if the job completed before the stop arrived,
	// since the stop may still kill the process when the runtime does not
	// take it. Guarded by Host.mu.
	StopAsked bool
	// slotKey is a batch child's key in the queue's running and slot
	// maps (see slotGroup). Guarded by Host.mu.
	slotKey string
	// queued marks a job waiting to run, in the table's pending set or
	// its batch's queue (see trackLocked). For a batch (foreach.go): a
	// parent's kids, a child's batch (its parent, once queued), and
	// whether the child is counted among its batch's finished children.
	// Guarded by Host.mu.
	queued  bool
	kids    *kidQueue
	batch   *Job
	kidDone bool
	// lane is the queue's lane a queued job waits in, lanePriority its
	// priority when it joined it, gated whether its start waits for a
	// time or other jobs too, and deps the jobs it is indexed as waiting
	// for (see lanes.go); timedAt is the time it is held among the timed
	// jobs for, and timedIdx its place there, plus one (0: not there).
	// Guarded by Host.mu.
	lane         *lane
	lanePriority int
	gated        bool
	deps         []uint64
	timedAt      time.Time
	timedIdx     int
}

func NewJob(r *store.Row) *Job {
	return &Job{Row: *r, Changed: make(chan struct{})}
}

// NotifyLocked wakes everyone waiting on j.
func (j *Job) NotifyLocked() {
	close(j.Changed)
	j.Changed = make(chan struct{})
}

// LogEndLocked is where the job's record log ends now: the records kept in
// its row, or the open log, know, and the row remembers it for a job loaded
// from the table.
func (j *Job) LogEndLocked() int64 {
	if j.Row.KeptRecords != nil {
		return int64(len(j.Row.KeptRecords))
	}
	if j.Log != nil {
		return j.Log.Size()
	}
	return j.Row.LogSize
}

// ViewLocked returns the job as a user sees it.
func (j *Job) ViewLocked() *api.Job {
	v := j.Row.Job
	if v.State == api.NotStarted {
		v.StateReason, v.StateNote = j.waiting()
	}
	if noExitCode(v.State, v.ExitCode) {
		v.ExitCode = nil // a row a host wrote before it knew
	}
	v.HasMoreData = !v.State.Finished() || j.LogEndLocked() > j.Row.ReadOffset
	// A parent's data is its children's, as in PowerShell.
	for _, k := range j.Children {
		if kv := k.ViewLocked(); kv.HasMoreData {
			v.HasMoreData = true
		}
	}
	return &v
}

// finishLocked moves j to a finished state. code is the exit code, if any.
// A failed attempt of a job with retries left is queued again instead
// (see later.go).
func (t *Table) FinishLocked(j *Job, state api.State, reason string, code *int) {
	from := j.Row.State
	// Whether it has an exit code is told by how it ended, before a stop
	// its timeout made becomes a failure: a timed-out job did not exit by
	// itself either, and the 0 its runtime's answer carries is no status.
	if noExitCode(state, code) {
		code = nil
	}
	state, reason = endingLocked(j, from, state, reason)
	if !t.moveLocked(j, state) {
		return
	}
	now := time.Now()
	j.Row.StateReason = reason
	j.Row.ExitCode = code
	j.Row.PSEndTime = &now
	if j.Row.PSBeginTime == nil {
		j.Row.PSBeginTime = &now
	}
	j.Row.LogSize = j.LogEndLocked()
	if j.Log != nil {
		_ = j.Log.Close() // a no-op when the relay closed it already
	}
	j.NotifyLocked()
	// A failed attempt that runs again is an end like any other to
	// those following the job's events, but its hooks wait for its last.
	j.Retrying = t.willRetryLocked(j, from)
	if from != state && t.cfg.Moved != nil {
		t.cfg.Moved(j, from)
	}
	j.Retrying = false
	t.retryLocked(j, from)
	// After the retry: a child that runs again keeps its batch going.
	t.followParentLocked(j)
}

// persist writes j's row as it is now. The write (a bbolt transaction,
// fsynced) happens outside Host.mu, so one job's state change does not hold
// up every other; j.persistMu keeps writes of one job in the order their
// copies were taken, so the last write is the newest state. A failure is
// logged: the table in memory stays right and the next write catches up.
// It is returned too, for a job's end: an end not written must not be
// acknowledged to its runtime, which then keeps it (and the records that
// came with it) for a later host.
func (t *Table) Persist(j *Job) error {
	finished, err := t.persistRow(j)
	if finished {
		// A job that ends may take an older one past the clean-up
		// policy's limits (this job itself, with a short --keep-for).
		t.Cleanup()
	}
	return err
}

// persistRow is persist's write; it reports whether the row written is
// finished.
func (t *Table) persistRow(j *Job) (finished bool, err error) {
	j.PersistMu.Lock()
	defer j.PersistMu.Unlock()
	t.mu.Lock()
	if j.Removed || j.Unreadable {
		t.mu.Unlock()
		return false, nil
	}
	j.Row.LogSize = j.LogEndLocked()
	r := j.Row
	settled := r.State.Finished() && j.Draining == 0
	t.mu.Unlock()
	if err := t.store.Put(&r); err != nil {
		t.log.Error("cannot persist job", "job", r.ID, "err", err)
		return false, err
	}
	if r.State.Finished() {
		// Its runtime is no longer to be found again.
		t.journal.DropAttach(r.ID)
	}
	if settled {
		// The row now says all the cursor did, and nothing moves any more.
		t.cursors.Drop(r.ID)
	}
	return r.State.Finished(), nil
}

// checkpoint records where j's records stand now (see store.Cursor), cheaply
// and without a sync, between writes of its row.
func (t *Table) Checkpoint(j *Job) {
	t.mu.Lock()
	if j.Removed {
		t.mu.Unlock()
		return
	}
	c := store.Cursor{LogSize: j.LogEndLocked(), LastSeq: j.Row.LastSeq, ReadOffset: j.Row.ReadOffset}
	t.mu.Unlock()
	if err := t.cursors.Set(j.Row.ID, c); err != nil {
		t.log.Warn("cannot record where a job's records stand", "job", j.Row.ID, "err", err)
	}
}

// AttachRecord is what the host keeps in its journal for a running job's
// runtime (store.SaveAttach): how the launcher finds the process again, and
// the job's begin time, which the job table learns only when the job ends.
type AttachRecord struct {
	launch.Attach
	Begin *time.Time `json:"begin,omitempty"`
	// Slot is the job's slot in its group ($BGJOB_SLOT), which a new
	// host keeps for it; nil for a thread job.
	Slot *int `json:"slot,omitempty"`
	// Attempt is the attempt the runtime runs (see later.go).
	Attempt int `json:"attempt,omitempty"`
}

// Handoff is a batch passed straight to a draining receiver. done says
// whether it reached the caller. If the receiver takes too long, the relay
// abandons the wait and writes the batch to the log at [start, end); a
// receiver that then does deliver it moves the read offset past that range,
// so it is not received twice.
type Handoff struct {
	Data       []byte
	LastSeq    uint64
	Done       chan error
	Abandoned  bool // guarded by Host.mu
	Start, End int64
}

// KeepSlotLocked has j take slot again when it is counted in its group (a
// job a previous host started keeps its $BGJOB_SLOT); nil leaves it to the
// lowest free.
func (j *Job) KeepSlotLocked(slot *int) {
	if slot != nil {
		j.Slot, j.SlotHeld = *slot, true
	}
}

// VisibleTo reports whether c may see and touch j.
func (j *Job) VisibleTo(c Caller) bool {
	return c.Root() || j.Row.OwnerUID == c.UID
}

// AwaitRemoved waits up to d for a collector (see Job.Collectors) to remove
// j, which has ended; it reports whether it did. It gives up at once when
// no collector is left (one that failed or went away): then the end must
// be written as for any job.
func (t *Table) AwaitRemoved(j *Job, d time.Duration) bool {
	var removed bool
	t.await(j, d, func() bool {
		removed = j.Removed
		return removed || j.Collectors == 0
	})
	return removed
}

// await waits, at most d, until settled (called under the table's lock
// each time j changes) says so, and reports whether it did; a table
// that closes meanwhile ends the wait.
func (t *Table) await(j *Job, d time.Duration, settled func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		t.mu.Lock()
		ok, changed := settled(), j.Changed
		t.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		case <-t.ctx.Done():
			return false
		}
	}
}

// Commits is how many transactions the job table's store has committed
// since it opened (see store.Store.Commits).
func (t *Table) Commits() uint64 { return t.store.Commits() }
