package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// Jobs on the Slurm location (start --location slurm). Such a job is a
// parent job with one child job per Slurm task, as a PowerShell job on
// several computers is a parent with a child per computer: the parent
// shows the whole (its Location lists the nodes), each child one task
// (its Location is its node) and holds that task's records.
//
// Nothing of such a job runs in the host: Slurm queues and runs it, so it
// takes no slot in the host's queue. The host submits it (sbatch), then a
// poller reads what its tasks write to the job's directory on the shared
// filesystem (see package slurm) and asks Slurm where the job stands
// (squeue, then scontrol or sacct once it has left the queue). The task
// logs are read from the start after a host restart and records the child
// holds already are dropped by number, so each record reaches the child's
// log exactly once whenever the host dies.

// ErrNoLocation: the location named cannot take jobs (not installed, not
// reachable, or it refused the request); the message carries its own.
var ErrNoLocation = errkind.ErrNoLocation

// slurmPoll is how often the host reads the Slurm jobs' files and asks
// Slurm about them.
const slurmPoll = 500 * time.Millisecond

// checkLocation validates --location and what goes with it.
func checkLocation(req *api.StartRequest) (slurmJob bool, err error) {
	switch strings.ToLower(req.Location) {
	case "", api.LocationLocal:
		if req.Slurm != nil {
			return false, errorf(ErrBadRequest, "--partition, --nodes, --nodelist, --ntasks, --time and --slurm-arg go with --location slurm")
		}
		return false, nil
	case api.LocationSlurm:
	default:
		return false, errorf(ErrBadRequest, "unknown --location %q; the locations are localhost and slurm ('bgjob location list')", req.Location)
	}
	switch {
	case req.Thread:
		return true, errorf(ErrBadRequest, "--thread runs jobs in a process of this host; it does not go with --location slurm")
	case len(req.After) > 0:
		return true, errorf(ErrBadRequest, "--after does not go with --location slurm yet; chain Slurm jobs with --slurm-arg=--dependency=afterok:ID")
	case req.Group != "":
		return true, errorf(ErrBadRequest, "--group limits jobs on this host; a job on Slurm is queued by Slurm (--partition)")
	case req.Type != "" && req.Type != sdk.BackgroundJob, req.DefinitionName != "":
		return true, errorf(ErrBadRequest, "only scripts (BackgroundJob) run on --location slurm")
	}
	if s := req.Slurm; s != nil && (s.Nodes < 0 || s.Tasks < 0) {
		return true, errorf(ErrBadRequest, "--nodes and --ntasks want a positive number")
	}
	return true, nil
}

// startSlurm creates a job on the Slurm location and submits it.
func (h *Host) startSlurm(ctx context.Context, req *api.StartRequest, owner Caller, runAs *store.Identity, acct *identity.Account) (*api.Job, error) {
	if h.opts.System || runAs != nil && acct.UID != owner.UID {
		return nil, errorf(ErrBadRequest, "a job on Slurm runs as whoever submits it: submit it from your own host, without --credential")
	}
	p, err := h.admit.PlanScript(req)
	if err != nil {
		return nil, err
	}
	sreq := &slurm.Request{}
	if s := req.Slurm; s != nil {
		*sreq = slurm.Request{Partition: s.Partition, Nodes: s.Nodes, NodeList: s.NodeList, Tasks: s.Tasks, Time: s.Time, Args: s.Args}
	}
	// Slurm's commands must be there before any job exists; what Slurm
	// refuses (a partition it does not have, a time it does not allow,
	// munge down) sbatch says below, and the job is taken back. (Asking
	// sbatch --test-only first would cost a round trip on every start.)
	if err := h.slurm.Installed(); err != nil {
		return nil, withKind(ErrNoLocation, err)
	}
	payload := p.Payload
	payload.Env = identity.JobEnv(owner, acct, false, req.Env, req.EnvAdd)
	payload.Umask = req.Umask
	entry := p.Entry
	rt := admit.RuntimeOf(entry)
	// A row of this job on Slurm: the parent, or a child.
	row := func() *store.Row {
		r := jobs.NewRow(owner, acct.Name, nil, admit.EntrySpec(entry), rt, p.Type, p.Command, req.Workdir)
		r.Location, r.Constraint = api.LocationSlurm, req.RuntimeVersion
		return r
	}
	parent := row()
	if req.InstanceID != "" {
		parent.InstanceID = req.InstanceID // the caller's (see Start)
	}
	dir := filepath.Join(h.opts.SlurmDir, parent.InstanceID)
	parent.Slurm = &store.SlurmJob{Dir: dir}
	pv, err := h.t.Create(parent, payload, p.Name)
	if err != nil {
		return nil, err
	}
	pj := h.t.Get(pv.ID)
	h.t.Lock()
	pj.Submitting = true
	h.followSlurmLocked()
	h.t.Unlock()
	defer func() {
		h.t.Lock()
		pj.Submitting = false
		h.t.Unlock()
	}()
	undo := func() {
		h.t.Lock()
		kids := append([]*jobs.Job(nil), pj.Children...)
		h.t.Unlock()
		for _, c := range kids {
			_ = h.t.Remove(c)
		}
		_ = h.t.Remove(pj)
		os.RemoveAll(dir)
	}
	// The process the tasks start, as this host would (each task logs to
	// a file of its own in the job's directory).
	spec := &slurm.Spec{Grace: h.opts.StopGrace, Runtime: *h.t.LaunchSpec(parent, entry.SHA256)}
	spec.Runtime.LogFile = ""
	var kids []*jobs.Job
	for task := range sreq.TaskCount() {
		c := row()
		c.Parent, c.Slurm = pv.ID, &store.SlurmJob{Dir: dir, Task: task}
		cv, err := h.t.Create(c, &sdk.Job{}, fmt.Sprintf("%s.%d", pv.Name, task))
		if err != nil {
			undo()
			return nil, err
		}
		kj := h.t.Get(cv.ID)
		kids = append(kids, kj)
		h.t.Lock()
		pj.Children = kids // so that undo finds them
		h.t.Unlock()
		spec.Children = append(spec.Children, slurm.Child{Task: task, ID: cv.ID, Name: cv.Name, InstanceID: cv.InstanceID})
	}
	h.t.Lock()
	for _, k := range kids {
		pj.Row.ChildJobs = append(pj.Row.ChildJobs, k.Row.ID)
	}
	h.t.Unlock()
	if err := slurm.WriteJob(dir, spec, payload, h.opts.HostBinary); err != nil {
		undo()
		return nil, fmt.Errorf("cannot prepare the job for Slurm in %s: %w", dir, err)
	}
	// The row says where the job's files are (its directory is named by
	// its instance id) before Slurm has it: a host that dies now finds the
	// job by its name (bgjob-INSTANCE) in Slurm.
	id, err := h.slurm.Submit(ctx, sreq, slurmName(&pj.Row), req.Workdir, slurm.OutputPath(dir), slurm.ScriptPath(dir))
	if err != nil {
		undo()
		return nil, withKind(ErrNoLocation, err)
	}
	h.t.Lock()
	pj.Row.Slurm.JobID = id
	pj.Row.StateReason = "Slurm job " + id + ": submitted"
	view := pj.ViewLocked()
	// The parent's row, with its children, is written once, now.
	h.t.Unlock()
	h.t.Persist(pj)
	h.log.Info("submitted a job to Slurm", "job", pv.ID, "slurm", id, "tasks", len(kids))
	return view, nil
}

// slurmName is the job's name in Slurm, by which a host that died while
// submitting finds it again.
func slurmName(r *store.Row) string { return "bgjob-" + r.InstanceID }

// followSlurmLocked makes sure the Slurm poller runs. It runs only while
// there are unfinished jobs on Slurm: a host without any (most) does not
// walk its job table every poll.
func (h *Host) followSlurmLocked() {
	if !h.slurmFollowing {
		h.slurmFollowing = true
		h.t.Go(h.slurmLoop)
	}
}

// slurmLoop follows the jobs on Slurm until none is left unfinished, or
// the host closes.
func (h *Host) slurmLoop() {
	t := time.NewTicker(slurmPoll)
	defer t.Stop()
	for h.pollSlurm(h.t.Ctx()) {
		select {
		case <-h.t.Ctx().Done():
			return
		case <-t.C:
		}
	}
}

// pollSlurm brings every unfinished job on Slurm up to date, and reports
// whether there were any (if not, the poller stops until the next).
func (h *Host) pollSlurm(ctx context.Context) bool {
	h.t.Lock()
	var parents []*jobs.Job
	var ids []string
	pending := 0
	for j := range h.t.AllLocked() {
		if j.Row.Slurm == nil || j.Row.Parent != 0 || j.Row.State.Finished() {
			continue
		}
		pending++
		if !j.Submitting {
			parents = append(parents, j)
			if j.Row.Slurm.JobID != "" {
				ids = append(ids, j.Row.Slurm.JobID)
			}
		}
	}
	urgent := false
	for _, p := range parents {
		// Just submitted (its fate is news), being stopped, or with every
		// task ended (Slurm's account settles it): ask Slurm now.
		ended := len(p.Children) > 0
		for _, k := range p.Children {
			ended = ended && (k.Row.State.Finished() || !k.EndAt.IsZero())
		}
		urgent = urgent || ended || p.Row.State == api.Stopping || time.Since(p.Row.Created) < slurmAskSoon
	}
	if pending == 0 {
		h.slurmFollowing = false
	}
	h.t.Unlock()
	if len(parents) == 0 {
		return pending > 0
	}
	// The tasks' files are read every poll; Slurm's controller, which
	// every user's tools load, is asked every slurmAsk unless it matters
	// now.
	fresh := urgent || time.Since(h.slurmAsked) >= slurmAsk
	if fresh {
		active, err := h.slurm.Active(ctx, ids)
		if err != nil {
			h.log.Warn("cannot ask Slurm about its jobs; asking again", "err", err)
			return true
		}
		h.slurmActive, h.slurmAsked = active, time.Now()
	}
	for _, p := range parents {
		h.followSlurm(ctx, p, h.slurmActive, fresh)
	}
	return true
}

// slurmAsk is how often the host asks Slurm about its running jobs when
// nothing calls for it sooner; slurmAskSoon how long after its submission
// a job is asked about at every poll.
const (
	slurmAsk     = 5 * time.Second
	slurmAskSoon = 10 * time.Second
)

// followSlurm reads what parent's tasks wrote and what Slurm says of it.
//
// With fresh false, active is what Slurm said a while ago: a job missing
// from it is not asked after (it may simply be newer than the answer).
func (h *Host) followSlurm(ctx context.Context, p *jobs.Job, active map[string]slurm.JobState, fresh bool) {
	h.t.Lock()
	id, kids := p.Row.Slurm.JobID, append([]*jobs.Job(nil), p.Children...)
	h.t.Unlock()
	if id == "" {
		h.adoptSlurm(ctx, p)
		return
	}
	st, queued := active[id]
	final := false
	if !queued && !fresh {
		st = slurm.JobState{ID: id}
	} else if !queued {
		// Left the queue, or not in it yet: scontrol (or sacct) knows.
		fs, err := h.slurm.Final(ctx, id)
		if err != nil {
			// Slurm may have forgotten it (past MinJobAge, no
			// accounting): the tasks' own files still say how it went.
			h.log.Warn("cannot ask Slurm how a job ended", "slurm", id, "err", err)
			fs = slurm.JobState{ID: id}
		}
		st, final = fs, slurmFinal(fs.State)
	}
	for _, k := range kids {
		h.followTask(k, st, final)
	}
	h.settleParent(p, st)
}

// adoptSlurm finds in Slurm a job whose host died while submitting it, by
// its name; one Slurm never got fails.
func (h *Host) adoptSlurm(ctx context.Context, p *jobs.Job) {
	h.t.Lock()
	name, created := slurmName(&p.Row), p.Row.Created
	h.t.Unlock()
	id, err := h.slurm.FindByName(ctx, name)
	switch {
	case err != nil:
		h.log.Warn("cannot look for a job in Slurm", "name", name, "err", err)
	case id != "":
		h.t.Lock()
		p.Row.Slurm.JobID = id
		h.t.Unlock()
		h.t.Persist(p)
		h.log.Info("found a job the previous host submitted", "job", p.Row.ID, "slurm", id)
	case h.tasksBegan(p):
		// Slurm ran it and has let it go: its tasks' files tell the rest.
		h.t.Lock()
		kids := append([]*jobs.Job(nil), p.Children...)
		h.t.Unlock()
		for _, k := range kids {
			h.followTask(k, slurm.JobState{}, false)
		}
		h.settleParent(p, slurm.JobState{State: "RUNNING"})
	case time.Since(created) > 10*time.Second:
		h.t.Lock()
		kids := append([]*jobs.Job(nil), p.Children...)
		for _, k := range kids {
			if !k.Row.State.Finished() {
				h.t.FinishLocked(k, api.Failed, "the host stopped while submitting the job to Slurm, which never got it", nil)
			}
		}
		h.t.FinishLocked(p, api.Failed, "the host stopped while submitting the job to Slurm, which never got it", nil)
		h.t.ScheduleLocked()
		h.t.Unlock()
		for _, k := range kids {
			h.t.Persist(k)
		}
		h.t.Persist(p)
	}
}

// tasksBegan reports whether any of p's tasks has started, by its files.
func (h *Host) tasksBegan(p *jobs.Job) bool {
	h.t.Lock()
	kids := append([]*jobs.Job(nil), p.Children...)
	h.t.Unlock()
	for _, k := range kids {
		if _, ok := slurm.ReadStarted(k.Row.Slurm.Dir, k.Row.Slurm.Task); ok {
			return true
		}
	}
	return false
}

// slurmFinal reports whether a Slurm state is an end.
func slurmFinal(state string) bool {
	switch state {
	case "PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "":
		return false
	}
	return true
}

// followTask brings child k up to date: its records, its start, its end.
func (h *Host) followTask(k *jobs.Job, st slurm.JobState, final bool) {
	h.t.Lock()
	if k.Row.State.Finished() || k.Removed {
		h.t.Unlock()
		return
	}
	sj := *k.Row.Slurm
	begun := k.Row.State != api.NotStarted
	h.t.Unlock()
	// The end is read before the records: a task writes its end only
	// after its last record, so reading the log after it gets them all.
	ended, hasEnd := slurm.ReadEnded(sj.Dir, sj.Task)
	if err := h.tailTask(k, sj); err != nil {
		h.log.Error("cannot take a Slurm task's records", "job", k.Row.ID, "err", err)
		h.t.Lock()
		h.t.FinishLocked(k, api.Failed, fmt.Sprintf("the host cannot store the records of its task on Slurm (%v)", err), nil)
		h.t.Unlock()
		h.t.Persist(k)
		return
	}
	var started slurm.Started
	hasStart := begun // its start is read until it is seen
	if !begun {
		started, hasStart = slurm.ReadStarted(sj.Dir, sj.Task)
	}
	h.t.Lock()
	changed := false
	if hasStart && k.Row.State == api.NotStarted {
		h.t.MoveLocked(k, api.Running)
		k.Row.Location, k.Row.StateReason = started.Node, ""
		t := started.Time
		k.Row.PSBeginTime = &t
		changed = true
	}
	if st.State == "SUSPENDED" && k.Row.State == api.Running {
		changed = h.t.MoveLocked(k, api.Suspended)
	} else if st.State == "RUNNING" && k.Row.State == api.Suspended {
		changed = h.t.MoveLocked(k, api.Running)
	}
	switch {
	case hasEnd && (ended.State == string(api.Failed) || ended.Signalled) && !final && time.Since(endSeen(k)) < slurmSettle:
		// A job that failed may have been killed by Slurm (a time limit,
		// memory): Slurm says so once the job has left its queue, which
		// is worth the wait for the reason.
	case hasEnd:
		state := api.State(ended.State)
		if !state.Finished() {
			state = api.Failed
		}
		reason := ended.Reason
		switch {
		case ended.Signalled:
			// Slurm ended it: Slurm's account decides (a time limit
			// fails it, a cancel in Slurm stops it).
			var why string
			state, why = slurmEnd(st)
			if !final {
				state, why = api.Failed, "ended by Slurm (TERM), which did not say why"
			}
			reason = why + "; the job: " + ended.Reason
		case final && state == api.Failed && st.State != "FAILED" && st.State != "COMPLETED":
			_, why := slurmEnd(st)
			reason += "; " + why
		}
		h.t.FinishLocked(k, state, reason, ended.ExitCode)
		changed = true
	case final:
		// Slurm ended the job without the task saying how: it was
		// cancelled, timed out, or its node or task never got going.
		state, reason := slurmEnd(st)
		if !hasStart {
			reason += taskNeverRan(sj.Dir)
		}
		if k.Row.State == api.NotStarted && state == api.Stopped {
			reason = "stopped before it started (cancelled in Slurm)"
		}
		h.t.FinishLocked(k, state, reason, nil)
		changed = true
	}
	if changed {
		k.NotifyLocked()
		if k.Row.State.Finished() {
			h.t.ScheduleLocked() // jobs that run after it
		}
	}
	h.t.Unlock()
	if changed {
		h.t.Persist(k)
	}
}

// slurmSettle bounds how long a child whose task recorded a failure waits
// for Slurm's account of the job's end.
const slurmSettle = 10 * time.Second

// EndSeen is when the poller first saw k's task end (Host.mu held).
func endSeen(k *jobs.Job) time.Time {
	if k.EndAt.IsZero() {
		k.EndAt = time.Now()
	}
	return k.EndAt
}

// slurmEnd maps how Slurm says a job ended to a state and a reason.
func slurmEnd(st slurm.JobState) (api.State, string) {
	reason := "Slurm job " + st.ID + " ended " + st.State
	if st.Reason != "" {
		reason += " (" + st.Reason + ")"
	}
	if st.ExitCode != "" && st.ExitCode != "0:0" {
		reason += ", exit code " + st.ExitCode
	}
	switch st.State {
	case "COMPLETED":
		// Completed by Slurm's account, but the task did not record
		// the job's end: something between them failed.
		return api.Failed, reason + " without the task recording how the job ended"
	case "CANCELLED":
		return api.Stopped, reason
	case "TIMEOUT":
		return api.Failed, reason + ": it ran past its time limit (--time)"
	case "OUT_OF_MEMORY":
		return api.Failed, reason + ": it ran out of memory"
	case "NODE_FAIL":
		return api.Failed, reason + ": its node failed"
	}
	return api.Failed, reason
}

// taskNeverRan explains a task that left no trace in the job's directory,
// with the end of Slurm's own output for the job when there is some.
func taskNeverRan(dir string) string {
	msg := "; the task never started: bgjob needs " + dir + ", bgjobd and the runtime catalog on a filesystem the nodes share with the host"
	if b, err := os.ReadFile(slurm.OutputPath(dir)); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		out := strings.TrimSpace(string(b))
		if len(out) > 500 {
			out = "…" + out[len(out)-500:]
		}
		msg += "; Slurm's output: " + out
	}
	return msg
}

// tailTask appends to child k's log the whole records its task's log holds
// beyond those k has, copied in pieces of about tailChunk at record
// boundaries: after a host restart a task's log is read again from its
// start, and its size is the job's output, which must not be held in
// memory at once.
func (h *Host) tailTask(k *jobs.Job, sj store.SlurmJob) error {
	path := slurm.LogPath(sj.Dir, sj.Task)
	h.t.Lock()
	off, last := k.TailOff, k.Row.LastSeq
	h.t.Unlock()
	end, err := recordlog.ScanFrom(path, recordlog.End{Size: off, LastSeq: k.TailSeq})
	if err != nil || end.Size == off {
		if errors.Is(err, recordlog.ErrCorrupt) {
			return err
		}
		return nil // nothing new, or a log not there yet
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// Copies [from, to) of the task's log to k's.
	copyOut := func(from, to int64) error {
		if to <= from {
			return nil
		}
		data := make([]byte, to-from)
		if _, err := f.ReadAt(data, from); err != nil {
			return fmt.Errorf("cannot read %s: %w", path, err)
		}
		h.t.Lock()
		if k.Log == nil {
			lg, lerr := recordlog.Open(h.t.LogPath(k.Row.ID), k.Row.LogSize)
			if lerr != nil {
				h.t.Unlock()
				return lerr
			}
			k.Log = lg
		}
		lg := k.Log
		h.t.Unlock()
		batch, err := recordlog.Plain(data)
		if err != nil {
			return fmt.Errorf("cannot copy the records of %s: %w", path, err)
		}
		return lg.Append(batch)
	}
	start := off // of the records not yet copied
	err = recordlog.Read(path, off, end.Size, func(r *sdk.Record, recEnd int64) error {
		if r.Seq <= last {
			start = recEnd // k has it already
			return nil
		}
		if recEnd-start >= tailChunk {
			if err := copyOut(start, recEnd); err != nil {
				return err
			}
			start = recEnd
		}
		return nil
	})
	if err == nil {
		err = copyOut(start, end.Size)
	}
	if err != nil {
		return err
	}
	h.t.Lock()
	k.TailOff, k.TailSeq = end.Size, end.LastSeq
	if end.LastSeq > k.Row.LastSeq {
		k.Row.LastSeq = end.LastSeq
		k.NotifyLocked()
	}
	h.t.Unlock()
	h.t.Checkpoint(k)
	return nil
}

// tailChunk is about how much of a task's log the host copies at once.
const tailChunk = 1 << 20

// settleParent sets the parent's state from Slurm's and its children's:
// finished once they all are (Failed if one failed, else Stopped if one
// was stopped, else Completed); its Location lists their nodes.
func (h *Host) settleParent(p *jobs.Job, st slurm.JobState) {
	h.t.Lock()
	if p.Row.State.Finished() {
		h.t.Unlock()
		return
	}
	before := p.Row
	var nodes []string
	seen := map[string]bool{}
	all, anyRunning := true, false
	var failed, stopped *jobs.Job
	for _, k := range p.Children {
		anyRunning = anyRunning || k.Row.State == api.Running
		if k.Row.Location != api.LocationSlurm && !seen[k.Row.Location] {
			seen[k.Row.Location] = true
			nodes = append(nodes, k.Row.Location)
		}
		switch k.Row.State {
		case api.Failed:
			if failed == nil {
				failed = k
			}
		case api.Stopped:
			if stopped == nil {
				stopped = k
			}
		case api.Completed:
		default:
			all = false
		}
	}
	if len(nodes) > 0 {
		p.Row.Location = strings.Join(nodes, ", ")
	}
	// The parent began when its first task did (it may never have been
	// seen running between two polls).
	for _, k := range p.Children {
		if b := k.Row.PSBeginTime; b != nil && (p.Row.PSBeginTime == nil || b.Before(*p.Row.PSBeginTime)) {
			t := *b
			p.Row.PSBeginTime = &t
		}
	}
	switch {
	case all:
		code := 0
		for _, k := range p.Children {
			if k.Row.ExitCode != nil && *k.Row.ExitCode != 0 {
				code = *k.Row.ExitCode
				break
			}
		}
		state, reason := api.Completed, ""
		if failed != nil {
			state, reason = api.Failed, fmt.Sprintf("child job %d (%s, on %s) failed: %s", failed.Row.ID, failed.Row.Name, failed.Row.Location, failed.Row.StateReason)
		} else if stopped != nil {
			state, reason = api.Stopped, stopped.Row.StateReason
		}
		h.t.FinishLocked(p, state, reason, &code)
		h.t.ScheduleLocked() // jobs that run after it
	case p.Row.State == api.Stopping:
	case st.State == "PENDING":
		h.t.MoveLocked(p, api.NotStarted)
		p.Row.StateReason = "Slurm job " + st.ID + ": pending"
		if st.Reason != "" {
			p.Row.StateReason += " (" + st.Reason + ")"
		}
	case st.State == "SUSPENDED":
		h.t.MoveLocked(p, api.Suspended)
		p.Row.StateReason = "Slurm job " + st.ID + ": suspended"
	case st.State == "" && !anyRunning:
		// Slurm was not asked this time, and no task has begun.
	default:
		if p.Row.State != api.Running {
			now := time.Now()
			p.Row.PSBeginTime = &now
		}
		h.t.MoveLocked(p, api.Running)
		p.Row.StateReason = "Slurm job " + st.ID
	}
	changed := p.Row.State != before.State || p.Row.Location != before.Location || p.Row.StateReason != before.StateReason
	if changed {
		p.NotifyLocked()
	}
	h.t.Unlock()
	if changed {
		h.t.Persist(p)
	}
}

// stopSlurm stops jobs on Slurm as a local stop does: each task is asked to
// stop its job with the stop grace (TERM to every step); what has not ended
// after the grace and a margin is cancelled in Slurm.
func (h *Host) stopSlurm(ctx context.Context, parents []*jobs.Job) error {
	grace := h.opts.StopGrace
	for _, p := range parents {
		h.t.Lock()
		id, state := p.Row.Slurm.JobID, p.Row.State
		if !state.Finished() {
			h.t.MoveLocked(p, api.Stopping)
			p.NotifyLocked()
		}
		h.t.Unlock()
		if id == "" || state.Finished() {
			continue
		}
		var err error
		if state == api.NotStarted {
			err = h.slurm.Cancel(ctx, id)
		} else {
			err = slurm.RequestStop(p.Row.Slurm.Dir)
		}
		if err != nil {
			h.log.Warn("cannot stop a Slurm job gracefully; cancelling it", "slurm", id, "err", err)
			_ = h.slurm.Cancel(ctx, id)
		}
	}
	deadline := time.Now().Add(grace + stopMargin + 2*slurmPoll)
	cancelled := false
	for _, p := range parents {
		for {
			h.t.Lock()
			done, ch, id := p.Row.State.Finished(), p.Changed, p.Row.Slurm.JobID
			h.t.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) && !cancelled {
				h.log.Warn("a Slurm job did not end within the stop grace; cancelling it", "slurm", id)
				_ = h.slurm.Cancel(ctx, id)
				cancelled, deadline = true, time.Now().Add(60*time.Second)
			} else if time.Now().After(deadline) {
				return fmt.Errorf("the Slurm job %s did not end after it was cancelled", id)
			}
			select {
			case <-ch:
			case <-time.After(slurmPoll):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// onSlurm splits jobs into those on Slurm (as their parents, each once) and
// the rest.
func onSlurm(h *Host, js []*jobs.Job) (parents, local []*jobs.Job) {
	seen := map[uint64]bool{}
	for _, j := range js {
		if j.Row.Slurm == nil {
			local = append(local, j)
			continue
		}
		p := j
		if j.Row.Parent != 0 {
			if p = h.t.GetLocked(j.Row.Parent); p == nil {
				continue
			}
		}
		if !seen[p.Row.ID] {
			seen[p.Row.ID] = true
			parents = append(parents, p)
		}
	}
	return parents, local
}

// Locations lists where jobs can run, and whether each can be reached now.
func (h *Host) Locations(ctx context.Context) []api.Location {
	out := []api.Location{{Name: api.LocationLocal, Kind: "local", Reachable: true,
		Detail: fmt.Sprintf("this machine (%s/%s)", runtime.GOOS, runtime.GOARCH)}}
	l := api.Location{Name: api.LocationSlurm, Kind: "slurm"}
	parts, err := h.slurm.Partitions(ctx)
	if err != nil {
		l.Detail = err.Error()
	} else {
		var names []string
		for _, p := range parts {
			n := p.Name
			if p.Default {
				n += "*"
			}
			if !p.Up {
				n += " (down)"
			}
			names = append(names, fmt.Sprintf("%s %d node(s)", n, p.Nodes))
		}
		l.Reachable = true
		l.Detail = "partitions: " + strings.Join(names, ", ") + "; job files in " + h.opts.SlurmDir + " (shared with the nodes)"
	}
	return append(out, l)
}
