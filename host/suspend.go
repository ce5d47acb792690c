package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
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
	h.mu.Lock()
	js, err := h.selectFiltered(h.caller(ctx), sel, opts)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	var live []*job
	var refused []string
	for _, j := range js {
		switch {
		case j.row.State.Finished():
		case j.row.Slurm != nil:
			refused = append(refused, fmt.Sprintf("job %d (%s) runs on Slurm, which suspends jobs by an operator's command (scontrol suspend); bgjob shows it Suspended then", j.row.ID, j.row.Name))
		case j.row.ThrottleLimit > 0 && j.row.State != api.NotStarted && j.row.State != api.Suspended:
			refused = append(refused, fmt.Sprintf("job %d (%s) is a running thread job: it shares its runtime process with other jobs, so it cannot be suspended alone; stop it, or start it without --thread", j.row.ID, j.row.Name))
		default:
			live = append(live, j)
		}
	}
	h.mu.Unlock()
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
		ids = append(ids, fmt.Sprint(j.row.ID))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return h.Jobs(ctx, ids, nil)
}

// jobList names jobs in a message: "job 3 (A) has", "jobs 3 (A), 4 (B) have".
func jobList(js []*job) string {
	var names []string
	for _, j := range js {
		names = append(names, fmt.Sprintf("%d (%s)", j.row.ID, j.row.Name))
	}
	if len(names) == 1 {
		return "job " + names[0] + " has"
	}
	return "jobs " + strings.Join(names, ", ") + " have"
}

// startingWait bounds how long a suspend waits for a job whose runtime is
// being started to have one.
const startingWait = 30 * time.Second

func (h *Host) suspendJob(ctx context.Context, j *job) error {
	deadline := time.Now().Add(startingWait)
	for {
		h.mu.Lock()
		switch {
		case j.row.State == api.NotStarted:
			j.row.State, j.row.SuspendedFrom = api.Suspended, api.NotStarted
			j.notifyLocked()
			h.mu.Unlock()
			h.persist(j)
			return nil
		case j.row.State == api.Running && j.rt != nil:
			pid := j.rt.Pid()
			j.row.State = api.Suspending
			j.notifyLocked()
			h.mu.Unlock()
			_, err := process.SuspendSession(pid)
			h.mu.Lock()
			if err != nil {
				if j.row.State == api.Suspending {
					j.row.State = api.Running
					j.notifyLocked()
				}
				h.mu.Unlock()
				if errors.Is(err, errors.ErrUnsupported) {
					return errorf(ErrBadRequest, "job %d cannot be suspended: this system does not let bgjob find a job's processes (it reads /proc)", j.row.ID)
				}
				return fmt.Errorf("cannot suspend job %d (runtime pid %d): %w", j.row.ID, pid, err)
			}
			if j.row.State != api.Suspending {
				// It ended, or was stopped, meanwhile: its process (which
				// may run the next job) must not stay stopped.
				h.mu.Unlock()
				_, _ = process.ContinueSession(pid)
				return nil
			}
			j.row.State, j.row.SuspendedFrom = api.Suspended, api.Running
			j.notifyLocked()
			h.mu.Unlock()
			h.persist(j)
			h.log.Info("suspended a job", "job", j.row.ID, "pid", pid)
			return nil
		case j.row.State == api.Running:
			// Its runtime is being started: wait until it has one.
			ch := j.changed
			h.mu.Unlock()
			select {
			case <-ch:
			case <-time.After(time.Until(deadline)):
				return fmt.Errorf("job %d's runtime did not start within %v; it cannot be suspended yet", j.row.ID, startingWait)
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			// Suspended already, stopping, or finished meanwhile.
			h.mu.Unlock()
			return nil
		}
	}
}

// Resume resumes the selected suspended jobs and returns them; the others
// are left as they are.
func (h *Host) Resume(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.mu.Lock()
	js, err := h.selectFiltered(h.caller(ctx), sel, opts)
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if j.row.Slurm != nil && j.row.State == api.Suspended {
			return nil, errorf(ErrBadRequest, "job %d (%s) was suspended in Slurm; it is resumed there (scontrol resume, an operator's command)", j.row.ID, j.row.Name)
		}
	}
	var ids []string
	for _, j := range js {
		ok, err := h.resumeJob(j)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, fmt.Sprint(j.row.ID))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return h.Jobs(ctx, ids, nil)
}

// resumeJob resumes j if it is suspended, and reports whether it was.
func (h *Host) resumeJob(j *job) (bool, error) {
	h.mu.Lock()
	if j.row.State != api.Suspended {
		h.mu.Unlock()
		return false, nil
	}
	if j.row.SuspendedFrom != api.Running {
		j.row.State, j.row.SuspendedFrom = api.NotStarted, ""
		j.notifyLocked()
		h.scheduleLocked()
		h.mu.Unlock()
		h.persist(j)
		return true, nil
	}
	det := j.detached
	pid := 0
	if j.rt != nil {
		pid = j.rt.Pid()
	} else if det != nil {
		pid = det.Pid
	}
	j.row.State, j.row.SuspendedFrom = api.Running, ""
	j.detached = nil
	j.notifyLocked()
	h.mu.Unlock()
	if pid != 0 {
		if _, err := process.ContinueSession(pid); err != nil {
			h.log.Warn("cannot continue a suspended job's processes", "job", j.row.ID, "pid", pid, "err", err)
		}
	}
	if det != nil {
		// Suspended when the previous host went: reattach now that it
		// can answer.
		h.reattachLater(j, det, "the job was suspended when the host stopped")
	}
	h.persist(j)
	h.log.Info("resumed a job", "job", j.row.ID, "pid", pid)
	return true, nil
}

// reattachLater takes back a running job the previous host left that could
// not be reattached then (why says why), once its processes run again.
func (h *Host) reattachLater(j *job, att *attachRecord, why string) {
	p, err := h.launcher.Reattach(&att.Attach, h.runtimeLogPath(j.row.ID))
	h.mu.Lock()
	if err != nil {
		h.freeSlotLocked(j)
		h.finishLocked(j, api.Failed, fmt.Sprintf("%s, and its runtime could not be reattached when it ran again (%v); the records it sent before (up to number %d) are kept", why, err, j.row.LastSeq), nil)
		h.scheduleLocked()
		h.mu.Unlock()
		h.persist(j)
		return
	}
	if j.row.State != api.Running {
		// Stopped or removed meanwhile, as a job without its runtime.
		h.mu.Unlock()
		h.release(j, p)
		return
	}
	j.rt = p
	after := j.row.LastSeq
	h.mu.Unlock()
	// The runtime has the job already; the payload only names it.
	payload, err := h.payload(&j.row)
	if err != nil {
		payload = &sdk.Job{Id: j.row.ID}
	}
	h.goAsync(func() { h.relay(j, p, payload, after) })
}
