package jobs

import (
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// A start may come twice: the CLI sends it again, with the same instance
// id, when the host vanished before answering, and the first may have made
// the job. So the job table is indexed by instance id (t.instances, under
// t.mu), and a start naming an instance id that a job of the same caller
// has returns that job. Instance ids are unique on a host: another caller
// naming one is refused, and learns nothing of the job that has it.

// instanceKey is how the index spells an instance id: selectors match
// instance ids without regard to case, and so does the index.
func instanceKey(id string) string { return strings.ToLower(id) }

// indexLocked adds j to the instance index; unreadable rows have no id.
func (t *Table) IndexLocked(j *Job) {
	if j.Row.InstanceID != "" {
		t.instances[instanceKey(j.Row.InstanceID)] = j
	}
	t.indexRunLocked(j)
}

// unindexLocked drops j from the instance index.
func (t *Table) UnindexLocked(j *Job) {
	k := instanceKey(j.Row.InstanceID)
	if cur, ok := t.instances[k]; ok && cur == j {
		delete(t.instances, k)
	}
	t.unindexRunLocked(j)
}

// startedAlready returns the job that a start with instance id already
// made, if owner made it (ok); a start with an id that is not well formed,
// or that another caller's job has, is refused.
func (t *Table) StartedAlready(owner Caller, id string) (view *api.Job, ok bool, err error) {
	if !api.ValidInstanceID(id) {
		return nil, false, errorf(ErrBadRequest, "the instance id %q is not a UUID in lower case (as 'uuidgen' prints); leave it out and the host chooses one", id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	j := t.instances[instanceKey(id)]
	switch {
	case j == nil:
		// Made and removed already (a start --wait whose caller took
		// it away just before the host was killed): its last row.
		if tb, ok := t.tombs.find(instanceKey(id), time.Now()); ok {
			if tb.Owner != owner.UID {
				return nil, false, errInstanceTaken(id)
			}
			view := tb.Job
			return &view, true, nil
		}
		return nil, false, nil
	case j.Row.OwnerUID != owner.UID:
		return nil, false, errInstanceTaken(id)
	}
	return j.ViewLocked(), true, nil
}

func errInstanceTaken(id string) error {
	return errorf(ErrBadRequest, "the instance id %s is taken by another job; choose another, or leave it out and the host chooses one", id)
}

// reserveInstance claims r's instance id for the job about to be created,
// so that two starts naming one id cannot both make a job; release gives
// it back if the job is not made.
func (t *Table) reserveInstance(id string) (release func(), err error) {
	k := instanceKey(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, taken := t.instances[k]; taken {
		return nil, errInstanceTaken(id)
	}
	t.instances[k] = nil // being created
	return func() {
		t.mu.Lock()
		if t.instances[k] == nil {
			delete(t.instances, k)
		}
		t.mu.Unlock()
	}, nil
}
