package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
)

// Suspend and resume (Suspend-Job, Resume-Job). A running job's runtime
// leads a session of its own that holds every process the job started,
// whatever process groups they made; suspending the job stops (SIGSTOP)
// that whole session, the runtime first, so its clock stops with its job,
// and resuming continues it. This works the same for every runtime line and
// job type without the runtime's help, and nothing in the job can catch or
// ignore it. A queued job that is suspended is skipped by the queue until
// it is resumed.
//
// A thread job shares its process with other jobs, so it cannot be stopped
// alone this way: suspending a running thread job is refused (a queued one
// can be). A suspended job keeps its place in its group's limit: its
// processes and their memory are still there.
//
// The state is in the row (Suspended, and SuspendedFrom). A host killed
// while a job is suspended leaves its processes stopped; the next host
// does not reattach to it (a stopped runtime cannot answer) until it is
// resumed.

// Suspend suspends the selected jobs that have not finished, and returns
// them. Jobs suspended already stay so.
func (h *Host) Suspend(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	if err != nil {
		h.t.Unlock()
		return nil, err
	}
	var live []*jobs.Job
	var refused []string
	for _, j := range js {
		switch {
		case j.Row.State.Finished():
		case j.Row.Slurm != nil:
			refused = append(refused, fmt.Sprintf("job %d (%s) runs on Slurm, which suspends jobs by an operator's command (scontrol suspend); bgjob shows it Suspended then", j.Row.ID, j.Row.Name))
		case j.Row.ThrottleLimit > 0 && j.Row.State != api.NotStarted && j.Row.State != api.Suspended:
			refused = append(refused, fmt.Sprintf("job %d (%s) is a running thread job: it shares its runtime process with other jobs, so it cannot be suspended alone; stop it, or start it without --thread", j.Row.ID, j.Row.Name))
		default:
			live = append(live, j)
		}
	}
	h.t.Unlock()
	if len(refused) > 0 {
		return nil, errorf(ErrBadRequest, "%s", strings.Join(refused, "; "))
	}
	if len(live) == 0 && len(js) > 0 {
		return nil, errorf(ErrBadRequest, "%s finished; only running or queued jobs can be suspended", jobList(js))
	}
	var ids []string
	for _, j := range live {
		if err := h.suspendJob(ctx, j); err != nil {
			return nil, err
		}
		ids = append(ids, fmt.Sprint(j.Row.ID))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return h.Jobs(ctx, ids, nil)
}

// jobList names jobs in a message: "job 3 (A) has", "jobs 3 (A), 4 (B) have".
func jobList(js []*jobs.Job) string {
	var names []string
	for _, j := range js {
		names = append(names, fmt.Sprintf("%d (%s)", j.Row.ID, j.Row.Name))
	}
	if len(names) == 1 {
		return "job " + names[0] + " has"
	}
	return "jobs " + strings.Join(names, ", ") + " have"
}

// startingWait bounds how long a suspend waits for a job whose runtime is
// being started to have one.
const startingWait = 30 * time.Second

func (h *Host) suspendJob(ctx context.Context, j *jobs.Job) error {
	deadline := time.Now().Add(startingWait)
	for {
		h.t.Lock()
		switch {
		case j.Row.State == api.NotStarted:
			h.t.MoveLocked(j, api.Suspended)
			j.Row.SuspendedFrom = api.NotStarted
			j.NotifyLocked()
			h.t.Unlock()
			h.t.Persist(j)
			return nil
		case j.Row.State == api.Running && j.RT != nil:
			pid := j.RT.Pid()
			h.t.MoveLocked(j, api.Suspending)
			j.NotifyLocked()
			h.t.Unlock()
			_, err := process.SuspendSession(pid)
			h.t.Lock()
			if err != nil {
				if j.Row.State == api.Suspending {
					h.t.MoveLocked(j, api.Running)
					j.NotifyLocked()
				}
				h.t.Unlock()
				if errors.Is(err, errors.ErrUnsupported) {
					return errorf(ErrBadRequest, "job %d cannot be suspended: this system does not let bgjob find a job's processes (it reads /proc)", j.Row.ID)
				}
				return fmt.Errorf("cannot suspend job %d (runtime pid %d): %w", j.Row.ID, pid, err)
			}
			if j.Row.State != api.Suspending {
				// It ended, or was stopped, meanwhile: its process (which
				// may run the next job) must not stay stopped.
				h.t.Unlock()
				_, _ = process.ContinueSession(pid)
				return nil
			}
			h.t.MoveLocked(j, api.Suspended)
			j.Row.SuspendedFrom = api.Running
			j.NotifyLocked()
			h.t.Unlock()
			h.t.Persist(j)
			h.log.Info("suspended a job", "job", j.Row.ID, "pid", pid)
			return nil
		case j.Row.State == api.Running:
			// Its runtime is being started: wait until it has one.
			ch := j.Changed
			h.t.Unlock()
			select {
			case <-ch:
			case <-time.After(time.Until(deadline)):
				return fmt.Errorf("job %d's runtime did not start within %v; it cannot be suspended yet", j.Row.ID, startingWait)
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			// Suspended already, stopping, or finished meanwhile.
			h.t.Unlock()
			return nil
		}
	}
}

// Resume resumes the selected suspended jobs and returns them; the others
// are left as they are.
func (h *Host) Resume(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	h.t.Unlock()
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if j.Row.Slurm != nil && j.Row.State == api.Suspended {
			return nil, errorf(ErrBadRequest, "job %d (%s) was suspended in Slurm; it is resumed there (scontrol resume, an operator's command)", j.Row.ID, j.Row.Name)
		}
	}
	var ids []string
	for _, j := range js {
		ok, err := h.resumeJob(j)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, fmt.Sprint(j.Row.ID))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return h.Jobs(ctx, ids, nil)
}

// resumeJob resumes j if it is suspended, and reports whether it was.
func (h *Host) resumeJob(j *jobs.Job) (bool, error) {
	h.t.Lock()
	if j.Row.State != api.Suspended {
		h.t.Unlock()
		return false, nil
	}
	if j.Row.SuspendedFrom != api.Running {
		h.t.MoveLocked(j, api.NotStarted)
		j.Row.SuspendedFrom = ""
		j.NotifyLocked()
		h.t.ScheduleLocked()
		h.t.Unlock()
		h.t.Persist(j)
		return true, nil
	}
	det := j.Detached
	pid := 0
	if j.RT != nil {
		pid = j.RT.Pid()
	} else if det != nil {
		pid = det.Pid
	}
	h.t.MoveLocked(j, api.Running)
	j.Row.SuspendedFrom = ""
	j.Detached = nil
	j.NotifyLocked()
	h.t.Unlock()
	if pid != 0 {
		if _, err := process.ContinueSession(pid); err != nil {
			h.log.Warn("cannot continue a suspended job's processes", "job", j.Row.ID, "pid", pid, "err", err)
		}
	}
	if det != nil {
		// Suspended when the previous host went: reattach now that it
		// can answer.
		h.reattachLater(j, det, "the job was suspended when the host stopped")
	}
	h.t.Persist(j)
	h.log.Info("resumed a job", "job", j.Row.ID, "pid", pid)
	return true, nil
}

// reattachLater takes back a running job the previous host left that could
// not be reattached then (why says why), once its processes run again.
func (h *Host) reattachLater(j *jobs.Job, att *jobs.AttachRecord, why string) {
	p, err := h.launcher.Reattach(&att.Attach, h.t.RuntimeLogPath(j.Row.ID))
	h.t.Lock()
	if err != nil {
		h.t.FreeSlotLocked(j)
		h.t.FinishLocked(j, api.Failed, fmt.Sprintf("%s, and its runtime could not be reattached when it ran again (%v); the records it sent before (up to number %d) are kept", why, err, j.Row.LastSeq), nil)
		h.t.ScheduleLocked()
		h.t.Unlock()
		h.t.Persist(j)
		return
	}
	if j.Row.State != api.Running {
		// Stopped or removed meanwhile, as a job without its runtime.
		h.t.Unlock()
		h.release(j, p)
		return
	}
	j.RT = p
	after := j.Row.LastSeq
	h.t.Unlock()
	// The runtime has the job already; the payload only names it.
	payload, err := h.t.Payload(&j.Row)
	if err != nil {
		payload = &sdk.Job{Id: j.Row.ID}
	}
	h.t.Go(func() { h.relay(j, p, payload, after) })
}
