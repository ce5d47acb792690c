package jobs

import (
	"fmt"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// Create stores a new job's row (named name, or Job<Id>) and payload, and
// queues it.
func (t *Table) Create(r *store.Row, payload *sdk.Job, name string) (*api.Job, error) {
	return t.create(r, payload, name, t.store.Create)
}

// CreateForeground is Create for a job whose caller waits for it and
// removes it when it ends (start --wait): it returns before the row's sync,
// which goes on beside the job's start (store.CreateForeground says why
// that loses nothing).
func (t *Table) CreateForeground(r *store.Row, payload *sdk.Job, name string) (*api.Job, error) {
	r.Foreground, r.Boot = true, bootID()
	return t.create(r, payload, name, t.store.CreateForeground)
}

func (t *Table) create(r *store.Row, payload *sdk.Job, name string, storeCreate func(*store.Row, func(uint64) []byte) error) (*api.Job, error) {
	data, inline, release, err := t.prepareCreate(r, payload)
	if err != nil {
		return nil, err
	}
	defer release()
	err = storeCreate(r, func(id uint64) []byte {
		r.ID = id
		r.Name = name
		if r.Name == "" {
			r.Name = fmt.Sprintf("Job%d", id)
		}
		if inline {
			return data
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot record the job: %w", err)
	}
	if err := t.payloadFile(r.ID, data, inline, r.ID); err != nil {
		return nil, err
	}
	// The record log is made when the job runs: nothing on the way to
	// answering a start creates a file.
	t.mu.Lock()
	j := t.addLocked(r)
	t.ScheduleLocked()
	view := j.ViewLocked()
	t.mu.Unlock()
	return view, nil
}

// prepareCreate is what a new job's creation needs first: its payload
// encoded, whether that is small enough to keep in its row, and its
// instance id reserved (release lets it go).
func (t *Table) prepareCreate(r *store.Row, payload *sdk.Job) (data []byte, inline bool, release func(), err error) {
	data, err = proto.Marshal(sdk.EncodeJob(payload))
	if err != nil {
		return nil, false, nil, fmt.Errorf("cannot record the job's payload: %w", err)
	}
	release, err = t.reserveInstance(r.InstanceID)
	if err != nil {
		return nil, false, nil, err
	}
	return data, len(data) <= MaxInlinePayload, release, nil
}

// payloadFile writes job id's payload to its file when it is too large for
// its row (not inline); if that fails, the rows just stored (undo) are
// deleted, so that no job is left without its payload.
func (t *Table) payloadFile(id uint64, data []byte, inline bool, undo ...uint64) error {
	if inline {
		return nil
	}
	err := t.WritePayload(id, data)
	if err != nil {
		for _, u := range undo {
			_ = t.store.Delete(u)
		}
	}
	return err
}

// addLocked puts a newly stored row's job into the table and its indexes.
func (t *Table) addLocked(r *store.Row) *Job {
	j := NewJob(r)
	t.jobs[r.ID] = j
	t.trackLocked(j)
	t.IndexLocked(j)
	return j
}

// NewRow is a new job's row, not started yet, with what every job has;
// the caller adds what its kind of job has besides.
func NewRow(owner Caller, user string, runAs *store.Identity, spec store.Spec, rt api.Runtime, typ, cmd, workdir string) *store.Row {
	r := &store.Row{Spec: &spec, OwnerUID: owner.UID, RunAs: runAs}
	r.Job = api.Job{InstanceID: api.NewInstanceID(), PSJobTypeName: typ, State: api.NotStarted, Location: api.LocationLocal,
		Command: cmd, Workdir: workdir, User: user, Owner: owner.Name, ChildJobs: []uint64{}, Created: time.Now(), Runtime: rt}
	return r
}
