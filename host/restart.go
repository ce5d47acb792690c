package host

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// Restart runs finished jobs again (pueue's restart), so that a failed job
// is one command from a retry: each gets what it was given (script,
// arguments, input, working directory, environment, user, group,
// dependencies) and its runtime is resolved again from the constraint it
// was started with, so a fixed runtime installed since is the one that
// runs. A script job whose script came from a file runs the script as it
// was read then: the job is repeated, not re-read.
//
// By default each restart is a new job (a new id, the same name), leaving
// the old one and its output as they are; in place (pueue's --in-place)
// the job's own row runs again and its old records go.
//
// With a state option the jobs are those (named, or all) in that state, and
// selecting none is no error.
func (h *Host) Restart(ctx context.Context, sel []string, req *api.RestartRequest, opts ...SelectOption) ([]*api.Job, error) {
	c := h.caller(ctx)
	if req == nil {
		req = &api.RestartRequest{}
	}
	if req.AfterAnyState && req.After == nil {
		return nil, errorf(ErrBadRequest, "--after-any-state goes with --after")
	}
	if req.RequestID != "" && !api.ValidInstanceID(req.RequestID) {
		return nil, errorf(ErrBadRequest, "the restart's request id %q is not a UUID in lower case", req.RequestID)
	}
	h.mu.Lock()
	js, err := h.selectFiltered(c, sel, opts)
	var done []string
	if err == nil {
		js, done = h.restartedAlreadyLocked(c, js, req.RequestID)
	}
	h.mu.Unlock()
	if err != nil || len(js)+len(done) == 0 {
		return nil, err
	}
	if req.Script != nil && len(js)+len(done) != 1 {
		return nil, errorf(ErrBadRequest, "--edit restarts one job; %d are selected", len(js)+len(done))
	}
	var unfinished []string
	h.mu.Lock()
	for _, j := range js {
		if j.row.Slurm != nil {
			h.mu.Unlock()
			return nil, errorf(ErrBadRequest, "job %d (%s) ran on Slurm; restart does not resubmit jobs to Slurm yet: start it again with --location slurm", j.row.ID, j.row.Name)
		}
		if !j.row.State.Finished() {
			unfinished = append(unfinished, fmt.Sprintf("%d (%s, %s)", j.row.ID, j.row.Name, j.row.State))
		} else if j.unreadable {
			unfinished = append(unfinished, fmt.Sprintf("%d (its row is damaged)", j.row.ID))
		}
	}
	h.mu.Unlock()
	if len(unfinished) > 0 {
		return nil, errorf(ErrNotFinished, "only finished jobs restart: job %s is not; wait for it, or stop it first", strings.Join(unfinished, ", "))
	}
	ids := done
	for _, j := range js {
		id, err := h.restartJob(ctx, c, j, req)
		if err != nil {
			return nil, err
		}
		ids = append(ids, strconv.FormatUint(id, 10))
	}
	return h.Jobs(ctx, ids, nil)
}

// restartedAlreadyLocked splits the selected jobs js into those still to
// restart and the ids of the jobs that a restart with request id (sent
// again: its answer was lost with a host) made already. A job that request
// restarted (in place: the job itself, now running again) or made (a new
// job of the same name, which the selection finds too) is not restarted a
// second time.
func (h *Host) restartedAlreadyLocked(c Caller, js []*job, id string) (todo []*job, done []string) {
	if id == "" {
		return js, nil
	}
	made := map[uint64]uint64{} // restarted job -> the job it runs as
	for _, k := range h.jobs {
		if k.row.RestartID == id && k.row.OwnerUID == c.UID {
			made[k.row.RestartOf] = k.row.ID
		}
	}
	if len(made) == 0 {
		return js, nil
	}
	seen := map[uint64]bool{}
	for _, j := range js {
		target, restarted := made[j.row.ID]
		switch {
		case restarted:
		case j.row.RestartID == id:
			target = j.row.ID
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

// Script returns the script the selected job ran (restart --edit edits it).
func (h *Host) Script(ctx context.Context, sel []string) (string, error) {
	h.mu.Lock()
	js, err := h.selectLocked(h.caller(ctx), sel)
	var r store.Row
	if err == nil && len(js) == 1 {
		r = js[0].row
	}
	h.mu.Unlock()
	if err != nil {
		return "", err
	}
	if len(js) != 1 {
		return "", errorf(ErrBadRequest, "--edit restarts one job; %d are selected", len(js))
	}
	if r.PSJobTypeName != sdk.BackgroundJob && r.PSJobTypeName != ThreadJob {
		return "", errorf(ErrBadRequest, "job %d is a %s: it has no script to edit; restart it without --edit", r.ID, r.PSJobTypeName)
	}
	p, err := h.payload(&r)
	if err != nil {
		return "", err
	}
	return p.Script, nil
}

// restartJob runs finished job j again and returns the id it runs as.
func (h *Host) restartJob(ctx context.Context, c Caller, j *job, req *api.RestartRequest) (uint64, error) {
	h.mu.Lock()
	old := j.row
	h.mu.Unlock()
	// Whom it runs as: the same user, which takes their password again
	// unless that is the caller, or the caller is root.
	cred := ""
	if old.User != c.Name {
		cred = old.User
	}
	runAs, acct, err := h.ids.RunAs(c, &api.StartRequest{Credential: cred, Password: req.Password})
	if err != nil {
		return 0, fmt.Errorf("job %d ran as %s: %w", old.ID, old.User, err)
	}
	if err := checkDir(old.Workdir); err != nil {
		return 0, fmt.Errorf("job %d cannot run again: %w", old.ID, err)
	}
	if err := identity.CheckWorkdir(acct, runAs, old.Workdir); err != nil {
		return 0, err
	}
	payload, err := h.payload(&old)
	if err != nil {
		return 0, fmt.Errorf("job %d cannot run again: %w", old.ID, err)
	}
	payload.Id, payload.InstanceId, payload.Name, payload.Workdir, payload.Command = 0, "", "", "", ""
	command := old.Command
	if req.Script != nil {
		payload.Script = *req.Script
		command = boundCommand(*req.Script)
	}
	// The runtime: a script job's is resolved again from its constraint;
	// a custom type's plugin is the one it ran on (verified as it starts).
	spec, rt := *old.Spec, old.Runtime
	if old.PSJobTypeName == sdk.BackgroundJob || old.PSJobTypeName == ThreadJob {
		e, err := h.catalog.Resolve(old.Runtime.Name, old.Constraint, old.Runtime.OS, old.Runtime.Arch)
		if err == nil {
			err = h.catalog.Verify(e)
		}
		if err != nil {
			return 0, catalogKind(fmt.Errorf("job %d cannot run again: %w", old.ID, err))
		}
		spec = entrySpec(e)
		rt = runtimeOf(e)
	}
	self := uint64(0)
	if req.InPlace {
		self = old.ID
	}
	after, anyState := old.After, old.AfterAnyState
	if req.After != nil {
		h.mu.Lock()
		after, err = h.afterLocked(c, req.After, self)
		h.mu.Unlock()
		if err != nil {
			return 0, err
		}
		anyState = req.AfterAnyState
	}
	r := newRow(c, acct.Name, runAs, spec, rt, old.PSJobTypeName, command, old.Workdir)
	r.ThrottleLimit, r.Constraint = old.ThrottleLimit, old.Constraint
	r.Definition, r.After, r.AfterAnyState, r.Group = old.Definition, after, anyState, old.Group
	r.RestartID, r.RestartOf = req.RequestID, old.ID
	if req.InPlace {
		// Still the job of whoever started it (root may restart it).
		r.OwnerUID, r.Owner = old.OwnerUID, old.Owner
	} else {
		v, err := h.create(r, payload, old.Name)
		if err != nil {
			return 0, err
		}
		return v.ID, nil
	}
	return old.ID, h.restartInPlace(j, r, payload)
}

// runtimeOf is how a row names the runtime e, speaking the newest protocol
// both it and this host do.
func runtimeOf(e *catalog.Entry) api.Runtime {
	wire, _ := protocol.Best(e.ServedProtocols())
	return api.Runtime{Name: e.Name, Version: e.Version, OS: e.OS, Arch: e.Arch, Protocol: wire, Path: e.Path}
}

// restartInPlace makes j's row r, a job not started yet: its old records,
// cursor and runtime log go, its payload is replaced, and it is queued.
func (h *Host) restartInPlace(j *job, r *store.Row, payload *sdk.Job) error {
	data, err := proto.Marshal(sdk.EncodeJob(payload))
	if err != nil {
		return fmt.Errorf("cannot record the job's payload: %w", err)
	}
	j.persistMu.Lock()
	defer j.persistMu.Unlock()
	h.mu.Lock()
	switch {
	case j.removed:
		h.mu.Unlock()
		return errorf(ErrNotFound, "job %d was removed meanwhile", j.row.ID)
	case !j.row.State.Finished():
		h.mu.Unlock()
		return errorf(ErrNotFinished, "job %d was restarted meanwhile", j.row.ID)
	case j.draining > 0:
		h.mu.Unlock()
		return errorf(ErrBadRequest, "job %d is being received; restart it once the receive is done", j.row.ID)
	}
	r.ID, r.Name = j.row.ID, j.row.Name
	if j.log != nil {
		j.log.Close()
		j.log = nil
	}
	h.mu.Unlock()
	// The new payload first: a large one replaces the old file whole.
	inline := len(data) <= maxInlinePayload
	if !inline {
		if err := h.writePayload(r.ID, data); err != nil {
			return err
		}
		data = nil
	}
	// Its old records go before the row says it is new: a host killed in
	// between leaves the finished job with its records gone (a receive
	// says they are missing), never a new job holding old records, which
	// would be taken for its own.
	for _, p := range []string{h.logPath(r.ID), h.runtimeLogPath(r.ID)} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("cannot restart job %d in place: %w", r.ID, err)
		}
	}
	h.cursors.Drop(r.ID)
	if err := h.store.PutWithPayload(r, data); err != nil {
		return fmt.Errorf("cannot restart job %d in place: %w", r.ID, err)
	}
	if inline {
		os.Remove(h.payloadPath(r.ID)) // an older, large payload's file
	}
	h.mu.Lock()
	h.unindexLocked(j)
	j.row = *r
	h.indexLocked(j)
	j.notifyLocked()
	h.scheduleLocked()
	h.mu.Unlock()
	return nil
}
