package jobs

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// Edit changes job j, which must not have started, as ch says (pueue's
// edit; a nil or empty field leaves that part as it is), and returns
// the job as it is now. The change is whole or nothing: the table's lock
// is held from the check to the stored row and payload, so the queue
// cannot start the job half-edited, and nothing else changes it meanwhile
// (an edit is rare; the one fsync it holds the table for is its price).
// The row and payload are stored before Edit returns.
//
// checkDir checks that a working directory exists, as the job's user
// sees it; bound is the command the row shows for a script.
func (t *Table) Edit(c Caller, j *Job, ch *api.EditRequest, checkDir func(string, *store.Identity) error, bound func(string) string) (*api.Job, error) {
	for _, kv := range ch.Env {
		if err := api.CheckEnvName(kv); err != nil {
			return nil, errorf(ErrBadRequest, "%w", err)
		}
	}
	t.mu.Lock()
	runAs, user := j.Row.RunAs, j.Row.User
	t.mu.Unlock()
	if ch.Workdir != nil {
		if err := checkDir(*ch.Workdir, runAs); err != nil {
			return nil, err
		}
	}
	if ch.Workdir != nil && runAs == nil {
		// As the host's own user (access(2)), as a start checks it.
		if err := identity.CheckWorkdir(nil, nil, *ch.Workdir); err != nil {
			return nil, err
		}
	}
	if ch.Workdir != nil && runAs != nil {
		// As the job's user, before the lock: this starts a process.
		acct, err := identity.LookupAccount(user)
		if err != nil {
			return nil, err
		}
		if err := identity.CheckWorkdir(acct, runAs, *ch.Workdir); err != nil {
			return nil, err
		}
	}
	j.PersistMu.Lock()
	defer j.PersistMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	r := j.Row
	switch {
	case j.Removed:
		return nil, errorf(ErrNotFound, "job %d was removed", r.ID)
	case (r.State != api.NotStarted && !(r.State == api.Suspended && r.SuspendedFrom == api.NotStarted)) || j.RT != nil:
		// (A job suspended in the queue has not started either.)
		return nil, errorf(ErrBadRequest, "job %d is %s: only a job that has not started can be edited; restart it with --edit", r.ID, r.State)
	case r.Slurm != nil:
		return nil, errorf(ErrBadRequest, "job %d is on Slurm: it is Slurm's to queue; stop it and start it again instead", r.ID)
	case r.SSH != nil:
		return nil, errorf(ErrBadRequest, "job %d runs over SSH: stop it and start it again instead", r.ID)
	case r.Batch > 0:
		return nil, errorf(ErrBadRequest, "job %d is part of a batch (start --foreach), whose child jobs share one script; stop the batch and start it again instead", r.ID)
	case j.Unreadable:
		return nil, errorf(ErrBadRequest, "job %d's row is damaged; remove it", r.ID)
	}
	if ch.Script != nil && r.PSJobTypeName != sdk.BackgroundJob && r.PSJobTypeName != "ThreadJob" {
		return nil, errorf(ErrBadRequest, "job %d is a %s: it has no script to edit", r.ID, r.PSJobTypeName)
	}
	if len(ch.After) > 0 {
		after, err := t.AfterLocked(c, ch.After, r.ID)
		if err != nil {
			return nil, err
		}
		r.After, r.AfterAnyState = after, ch.AfterAnyState
	}
	if ch.Priority != nil {
		r.Priority = *ch.Priority
	}
	if ch.Workdir != nil {
		r.Workdir = *ch.Workdir
	}
	p, err := t.Payload(&j.Row)
	if err != nil {
		return nil, err
	}
	if ch.Script != nil {
		p.Script, r.Command = *ch.Script, bound(*ch.Script)
	}
	for _, kv := range ch.Env {
		p.Env = setEnv(p.Env, kv)
	}
	// What the row says is the row's to say (Payload fills it in).
	p.Id, p.InstanceId, p.Name, p.Workdir, p.Command = 0, "", "", "", ""
	data, err := proto.Marshal(sdk.EncodeJob(p))
	if err != nil {
		return nil, fmt.Errorf("cannot record the job's payload: %w", err)
	}
	inline := len(data) <= MaxInlinePayload
	if !inline {
		if err := t.WritePayload(r.ID, data); err != nil {
			return nil, err
		}
		data = nil
	}
	if err := t.store.PutWithPayload(&r, data); err != nil {
		return nil, fmt.Errorf("cannot record the edit of job %d: %w", r.ID, err)
	}
	if inline {
		os.Remove(t.PayloadPath(r.ID)) // an older, large payload's file
	}
	j.Row = r
	t.retrackLocked(j) // its dependencies or priority may have changed
	j.NotifyLocked()
	t.ScheduleLocked()
	return j.ViewLocked(), nil
}

// setEnv sets kv (K=V) in env, replacing K's old value.
func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, k+"=") })
	return append(env, kv)
}

// SelectOne is the one job sel names for c; verb says what is done to it,
// for the refusal when sel names more or none.
func (t *Table) SelectOne(c Caller, sel []string, verb string) (*Job, error) {
	t.mu.Lock()
	js, err := t.SelectLocked(c, sel)
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	switch {
	case len(js) == 0:
		return nil, notFound(strings.Join(sel, " "))
	case len(js) != 1:
		return nil, errorf(ErrBadRequest, "%s acts on one job; %d are selected", verb, len(js))
	}
	return js[0], nil
}

// Script returns the script of the one job sel names for c (restart --edit
// and edit edit it).
func (t *Table) Script(c Caller, sel []string) (string, error) {
	j, err := t.SelectOne(c, sel, "--edit")
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	r := j.Row
	t.mu.Unlock()
	if r.PSJobTypeName != sdk.BackgroundJob && r.PSJobTypeName != "ThreadJob" {
		return "", errorf(ErrBadRequest, "job %d is a %s: it has no script to edit", r.ID, r.PSJobTypeName)
	}
	p, err := t.Payload(&r)
	if err != nil {
		return "", err
	}
	return p.Script, nil
}

// Restartable refuses, in one error naming them all, the jobs of js that
// cannot restart: those not finished (or whose row is damaged), and those
// that ran on Slurm.
func (t *Table) Restartable(js []*Job) error {
	var unfinished []string
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, j := range js {
		if j.Row.Slurm != nil {
			return errorf(ErrBadRequest, "job %d (%s) ran on Slurm; restart does not resubmit jobs to Slurm yet: start it again with --location slurm", j.Row.ID, j.Row.Name)
		}
		if j.Row.SSH != nil {
			return errorf(ErrBadRequest, "job %d (%s) ran over SSH; restart does not run jobs on other computers again yet: start it again with --location ssh", j.Row.ID, j.Row.Name)
		}
		if j.Row.Batch > 0 {
			return errorf(ErrBadRequest, "job %d (%s) is part of a batch (start --foreach); restart does not rerun batches yet: start it again with --foreach", j.Row.ID, j.Row.Name)
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
