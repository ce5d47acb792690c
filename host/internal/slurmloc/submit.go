package slurmloc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// Submit creates the job s on Slurm (a parent, and a child per task) and
// submits it; s is admitted already (see package remote).
func (l *Location) Submit(ctx context.Context, s *remote.Submission) (*api.Job, error) {
	sreq := &slurm.Request{}
	if r := s.Slurm; r != nil {
		*sreq = slurm.Request{Partition: r.Partition, Nodes: r.Nodes, NodeList: r.NodeList, Tasks: r.Tasks, Time: r.Time, Args: r.Args}
	}
	// Slurm's commands must be there before any job exists; what Slurm
	// refuses (a partition it does not have, a time it does not allow,
	// munge down) sbatch says below, and the job is taken back. (Asking
	// sbatch --test-only first would cost a round trip on every start.)
	if err := l.client.Installed(); err != nil {
		return nil, errkind.WithKind(errkind.ErrNoLocation, err)
	}
	payload, entry := s.Payload, s.Entry
	// The submitter's SLURM_ variables describe a Slurm job of its own
	// (bgjob started inside an allocation), not this one; those the user
	// gave with --env stay.
	payload.Env = slurm.SubmitEnv(payload.Env)
	for _, kv := range s.EnvAdd {
		if strings.HasPrefix(kv, "SLURM_") && !slices.Contains(payload.Env, kv) {
			payload.Env = append(payload.Env, kv)
		}
	}
	rt := admit.RuntimeOf(entry)
	// A row of this job on Slurm: the parent, or a child.
	row := func() *store.Row {
		r := jobs.NewRow(s.Owner, s.User, nil, admit.EntrySpec(entry), rt, s.Type, s.Command, s.Workdir)
		r.Location, r.Constraint = api.LocationSlurm, s.Constraint
		return r
	}
	parent := row()
	if s.InstanceID != "" {
		parent.InstanceID = s.InstanceID // the caller's (see Host.Start)
	}
	dir := filepath.Join(l.cfg.Dir, parent.InstanceID)
	parent.Slurm = &store.SlurmJob{Dir: dir}
	pv, err := l.t.Create(parent, payload, s.Name)
	if err != nil {
		return nil, err
	}
	pj := l.t.Get(pv.ID)
	l.t.Lock()
	l.submitting[pj.Row.ID] = true
	l.followLocked()
	l.t.Unlock()
	defer func() {
		l.t.Lock()
		delete(l.submitting, pj.Row.ID)
		l.t.Unlock()
	}()
	undo := func() {
		l.t.Lock()
		kids := append([]*jobs.Job(nil), pj.Children...)
		l.t.Unlock()
		for _, c := range kids {
			_ = l.t.Remove(c)
		}
		_ = l.t.Remove(pj)
		os.RemoveAll(dir)
	}
	// The process the tasks start, as this host would (each task logs to
	// a file of its own in the job's directory).
	spec := &slurm.Spec{Grace: l.cfg.StopGrace, Runtime: *l.t.LaunchSpec(parent, entry.SHA256)}
	spec.Runtime.LogFile = ""
	var kids []*jobs.Job
	for task := range sreq.TaskCount() {
		c := row()
		c.Parent, c.Slurm = pv.ID, &store.SlurmJob{Dir: dir, Task: task}
		cv, err := l.t.Create(c, &sdk.Job{}, fmt.Sprintf("%s.%d", pv.Name, task))
		if err != nil {
			undo()
			return nil, err
		}
		kj := l.t.Get(cv.ID)
		kids = append(kids, kj)
		l.t.Lock()
		pj.Children = kids // so that undo finds them
		l.t.Unlock()
		spec.Children = append(spec.Children, slurm.Child{Task: task, ID: cv.ID, Name: cv.Name, InstanceID: cv.InstanceID})
	}
	l.t.Lock()
	for _, k := range kids {
		pj.Row.ChildJobs = append(pj.Row.ChildJobs, k.Row.ID)
	}
	l.t.Unlock()
	if err := slurm.WriteJob(dir, spec, payload, l.cfg.HostBinary); err != nil {
		undo()
		return nil, fmt.Errorf("cannot prepare the job for Slurm in %s: %w", dir, err)
	}
	// The row says where the job's files are (its directory is named by
	// its instance id) before Slurm has it: a host that dies now finds the
	// job by its name (bgjob-INSTANCE) in Slurm.
	id, err := l.client.Submit(ctx, sreq, slurmName(&pj.Row), s.Workdir, slurm.OutputPath(dir), slurm.ScriptPath(dir))
	if err != nil {
		undo()
		return nil, errkind.WithKind(errkind.ErrNoLocation, err)
	}
	l.t.Lock()
	pj.Row.Slurm.JobID = id
	pj.Row.StateReason = "Slurm job " + id + ": submitted"
	view := pj.ViewLocked()
	// The parent's row, with its children, is written once, now.
	l.t.Unlock()
	l.t.Persist(pj)
	l.log.Info("submitted a job to Slurm", "job", pv.ID, "slurm", id, "tasks", len(kids))
	return view, nil
}

// slurmName is the job's name in Slurm, by which a host that died while
// submitting finds it again.
func slurmName(r *store.Row) string { return "bgjob-" + r.InstanceID }
