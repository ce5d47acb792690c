package jobs

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// restartedAlreadyLocked splits the selected jobs js into those still to
// restart and the ids of the jobs that a restart with request id (sent
// again: its answer was lost with a host) made already. A job that request
// restarted (in place: the job itself, now running again) or made (a new
// job of the same name, which the selection finds too) is not restarted a
// second time.
func (t *Table) RestartedAlreadyLocked(c Caller, js []*Job, id string) (todo []*Job, done []string) {
	if id == "" {
		return js, nil
	}
	made := map[uint64]uint64{} // restarted job -> the job it runs as
	for _, k := range t.jobs {
		if k.Row.RestartID == id && k.Row.OwnerUID == c.UID {
			made[k.Row.RestartOf] = k.Row.ID
		}
	}
	if len(made) == 0 {
		return js, nil
	}
	seen := map[uint64]bool{}
	for _, j := range js {
		target, restarted := made[j.Row.ID]
		switch {
		case restarted:
		case j.Row.RestartID == id:
			target = j.Row.ID
		default:
			todo = append(todo, j)
			continue
		}
		if !seen[target] {
			seen[target] = true
			done = append(done, strconv.FormatUint(target, 10))
		}
	}
	return todo, done
}

// restartInPlace makes j's row r, a job not started yet: its old records,
// cursor and runtime log go, its payload is replaced, and it is queued.
func (t *Table) RestartInPlace(j *Job, r *store.Row, payload *sdk.Job) error {
	data, err := proto.Marshal(sdk.EncodeJob(payload))
	if err != nil {
		return fmt.Errorf("cannot record the job's payload: %w", err)
	}
	if err := t.awaitLaunched(j); err != nil {
		return err
	}
	j.PersistMu.Lock()
	defer j.PersistMu.Unlock()
	t.mu.Lock()
	switch {
	case j.Removed:
		t.mu.Unlock()
		return errorf(ErrNotFound, "job %d was removed meanwhile", j.Row.ID)
	case !j.Row.State.Finished():
		t.mu.Unlock()
		return errorf(ErrNotFinished, "job %d was restarted meanwhile", j.Row.ID)
	case j.Draining > 0:
		t.mu.Unlock()
		return errorf(ErrBadRequest, "job %d is being received; restart it once the receive is done", j.Row.ID)
	}
	r.ID, r.Name = j.Row.ID, j.Row.Name
	if j.Log != nil {
		j.Log.Close()
		j.Log = nil
	}
	t.mu.Unlock()
	// The new payload first: a large one replaces the old file whole.
	inline := len(data) <= MaxInlinePayload
	if !inline {
		if err := t.WritePayload(r.ID, data); err != nil {
			return err
		}
		data = nil
	}
	// Its old records go before the row says it is new: a host killed in
	// between leaves the finished job with its records gone (a receive
	// says they are missing), never a new job holding old records, which
	// would be taken for its own.
	for _, p := range []string{t.LogPath(r.ID), t.RuntimeLogPath(r.ID)} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("cannot restart job %d in place: %w", r.ID, err)
		}
	}
	t.cursors.Drop(r.ID)
	if err := t.store.PutWithPayload(r, data); err != nil {
		return fmt.Errorf("cannot restart job %d in place: %w", r.ID, err)
	}
	if inline {
		os.Remove(t.PayloadPath(r.ID)) // an older, large payload's file
	}
	t.mu.Lock()
	t.UnindexLocked(j)
	// The row is the new run's; its state moves as any does.
	state := r.State
	r.State = j.Row.State
	j.Row = *r
	t.MoveLocked(j, state)
	t.IndexLocked(j)
	j.NotifyLocked()
	t.ScheduleLocked()
	t.mu.Unlock()
	return nil
}

// awaitLaunched waits until no runner is starting a runtime for j: a job
// stopped while its runtime was starting ends at once, and its runner
// learns of it only when the runtime has started. Restarted before that,
// the old start would go on with the new run's job.
func (t *Table) awaitLaunched(j *Job) error {
	if t.await(j, launchWait, func() bool { return !j.Launching }) {
		return nil
	}
	if err := t.ctx.Err(); err != nil {
		return err
	}
	return errorf(ErrBadRequest, "job %d's last runtime is still starting; restart it again in a moment", j.Row.ID)
}

// launchWait bounds how long a restart waits for a runtime that is
// starting: starting one takes milliseconds, a stuck one the launcher's
// own bound.
const launchWait = 30 * time.Second
