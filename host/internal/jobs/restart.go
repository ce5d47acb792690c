package jobs

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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

// Restartable refuses, naming them, the jobs of js that cannot restart:
// those unfinished, on Slurm, or whose row is damaged.
func (t *Table) Restartable(js []*Job) error {
	var unfinished []string
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, j := range js {
		if j.Row.Slurm != nil {
			return errorf(ErrBadRequest, "job %d (%s) ran on Slurm; restart does not resubmit jobs to Slurm yet: start it again with --location slurm", j.Row.ID, j.Row.Name)
		}
		if !j.Row.State.Finished() {
			unfinished = append(unfinished, fmt.Sprintf("%d (%s, %s)", j.Row.ID, j.Row.Name, j.Row.State))
		} else if j.Unreadable {
			unfinished = append(unfinished, fmt.Sprintf("%d (its row is damaged)", j.Row.ID))
		}
	}
	if len(unfinished) > 0 {
		return errorf(ErrNotFinished, "only finished jobs restart: job %s is not; wait for it, or stop it first", strings.Join(unfinished, ", "))
	}
	return nil
}

// Script returns the script the selected job ran (restart --edit edits it).
func (t *Table) Script(c Caller, sel []string) (string, error) {
	t.mu.Lock()
	js, err := t.SelectLocked(c, sel)
	var r store.Row
	if err == nil && len(js) == 1 {
		r = js[0].Row
	}
	t.mu.Unlock()
	if err != nil {
		return "", err
	}
	if len(js) != 1 {
		return "", errorf(ErrBadRequest, "--edit restarts one job; %d are selected", len(js))
	}
	if r.PSJobTypeName != sdk.BackgroundJob && r.ThrottleLimit == 0 { // a thread job has a limit
		return "", errorf(ErrBadRequest, "job %d is a %s: it has no script to edit; restart it without --edit", r.ID, r.PSJobTypeName)
	}
	p, err := t.Payload(&r)
	if err != nil {
		return "", err
	}
	return p.Script, nil
}
