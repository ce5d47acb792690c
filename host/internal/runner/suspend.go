package runner

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

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
)

// startingWait bounds how long a suspend waits for a job whose runtime is
// being started to have one.
const startingWait = 30 * time.Second

// Suspend suspends j if it is running or queued; see host.Suspend.
func (m *Manager) Suspend(ctx context.Context, j *jobs.Job) error {
	deadline := time.Now().Add(startingWait)
	for {
		m.t.Lock()
		switch {
		case j.Row.State == api.NotStarted:
			m.t.MoveLocked(j, api.Suspended)
			j.Row.SuspendedFrom = api.NotStarted
			j.NotifyLocked()
			m.t.Unlock()
			m.t.Persist(j)
			return nil
		case j.Row.State == api.Running && j.RT != nil:
			pid := j.RT.Pid()
			m.t.MoveLocked(j, api.Suspending)
			j.NotifyLocked()
			m.t.Unlock()
			_, err := process.SuspendSession(pid)
			m.t.Lock()
			if err != nil {
				if j.Row.State == api.Suspending {
					m.t.MoveLocked(j, api.Running)
					j.NotifyLocked()
				}
				m.t.Unlock()
				if errors.Is(err, errors.ErrUnsupported) {
					return errkind.Errorf(errkind.ErrBadRequest, "job %d cannot be suspended: this system does not let bgjob find a job's processes (it reads /proc)", j.Row.ID)
				}
				return fmt.Errorf("cannot suspend job %d (runtime pid %d): %w", j.Row.ID, pid, err)
			}
			if j.Row.State != api.Suspending {
				// It ended, or was stopped, meanwhile: its process (which
				// may run the next job) must not stay stopped.
				m.t.Unlock()
				_, _ = process.ContinueSession(pid)
				return nil
			}
			m.t.MoveLocked(j, api.Suspended)
			j.Row.SuspendedFrom = api.Running
			j.NotifyLocked()
			m.t.Unlock()
			m.t.Persist(j)
			m.log.Info("suspended a job", "job", j.Row.ID, "pid", pid)
			return nil
		case j.Row.State == api.Running:
			// Its runtime is being started: wait until it has one.
			ch := j.Changed
			m.t.Unlock()
			select {
			case <-ch:
			case <-time.After(time.Until(deadline)):
				return fmt.Errorf("job %d's runtime did not start within %v; it cannot be suspended yet", j.Row.ID, startingWait)
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			// Suspended already, stopping, or finished meanwhile.
			m.t.Unlock()
			return nil
		}
	}
}

// Resume resumes j if it is suspended, and reports whether it was.
func (m *Manager) Resume(j *jobs.Job) (bool, error) {
	m.t.Lock()
	if det := j.Detached; j.Row.State == api.Blocked && det != nil && j.RT == nil {
		// Its runtime was stopped when this host started: a host killed
		// as it suspended the job (the session stopped, the row not yet
		// written), or the job stopped its own. Continued, it is taken
		// back (takeBack).
		m.t.Unlock()
		if !stopped(&det.Attach) {
			return false, nil
		}
		if _, err := process.ContinueSession(det.Pid); err != nil {
			return false, fmt.Errorf("cannot resume job %d (runtime pid %d): %w", j.Row.ID, det.Pid, err)
		}
		m.log.Info("resumed a job whose runtime was stopped when the host started", "job", j.Row.ID, "pid", det.Pid)
		return true, nil
	}
	if j.Row.State != api.Suspended {
		m.t.Unlock()
		return false, nil
	}
	if j.Row.SuspendedFrom != api.Running {
		m.t.MoveLocked(j, api.NotStarted)
		j.Row.SuspendedFrom = ""
		j.NotifyLocked()
		m.t.ScheduleLocked()
		m.t.Unlock()
		m.t.Persist(j)
		return true, nil
	}
	det := j.Detached
	pid := 0
	if j.RT != nil {
		pid = j.RT.Pid()
	} else if det != nil {
		pid = det.Pid
	}
	m.t.MoveLocked(j, api.Running)
	j.Row.SuspendedFrom = ""
	j.Detached = nil
	j.NotifyLocked()
	m.t.Unlock()
	if pid != 0 {
		if _, err := process.ContinueSession(pid); err != nil {
			m.log.Warn("cannot continue a suspended job's processes", "job", j.Row.ID, "pid", pid, "err", err)
		}
	}
	if det != nil {
		// Suspended when the previous host went: reattach now that it
		// can answer.
		m.reattachLater(j, det, "the job was suspended when the host stopped")
	}
	m.t.Persist(j)
	m.log.Info("resumed a job", "job", j.Row.ID, "pid", pid)
	return true, nil
}

// reattachLater takes back a running job the previous host left that could
// not be reattached then (why says why), once its processes run again.
func (m *Manager) reattachLater(j *jobs.Job, att *jobs.AttachRecord, why string) {
	p, err := m.launcher.Reattach(&att.Attach, m.t.RuntimeLogPath(j.Row.ID))
	m.t.Lock()
	if err != nil {
		m.t.FreeSlotLocked(j)
		m.t.FinishLocked(j, api.Failed, fmt.Sprintf("%s, and its runtime could not be reattached when it ran again (%v); the records it sent before (up to number %d) are kept", why, err, j.Row.LastSeq), nil)
		m.t.ScheduleLocked()
		m.t.Unlock()
		m.t.Persist(j)
		return
	}
	if j.Row.State != api.Running {
		// Stopped or removed meanwhile, as a job without its runtime.
		m.t.Unlock()
		m.task(j, p).release()
		return
	}
	j.RT = p
	after := j.Row.LastSeq
	m.t.Unlock()
	// The runtime has the job already; the payload only names it.
	payload, err := m.t.Payload(&j.Row)
	if err != nil {
		payload = &sdk.Job{Id: j.Row.ID}
	}
	m.t.Go(func() { m.task(j, p).relay(payload, after) })
}

// SuspendAll suspends the jobs js that have not finished, and returns their
// ids. It refuses, naming them, jobs it cannot suspend (a running thread
// job, a job on Slurm) that the caller named (named, see
// host.namedLocked), and a selection that has only finished jobs; such jobs
// that a wildcard or --state picked are passed over, and the caller told.
func (m *Manager) SuspendAll(ctx context.Context, js []*jobs.Job, named map[*jobs.Job]bool) ([]string, error) {
	m.t.Lock()
	var live []*jobs.Job
	var refused, passed []string
	for _, j := range js {
		why := ""
		switch {
		case j.Row.State.Finished():
		case jobs.IsBatchParent(&j.Row):
			why = fmt.Sprintf("job %d (%s) is a batch (start --foreach), which runs nothing itself; suspend its child jobs ('bgjob get --include-child-jobs %d' lists them)", j.Row.ID, j.Row.Name, j.Row.ID)
		case j.Row.Slurm != nil:
			why = fmt.Sprintf("job %d (%s) runs on Slurm, which suspends jobs by an operator's command (scontrol suspend); bgjob shows it Suspended then", j.Row.ID, j.Row.Name)
		case j.Row.SSH != nil:
			why = fmt.Sprintf("job %d (%s) runs on another computer over SSH; suspend reaches this machine's jobs only", j.Row.ID, j.Row.Name)
		case j.Row.ThrottleLimit > 0 && j.Row.State != api.NotStarted && j.Row.State != api.Suspended:
			why = fmt.Sprintf("job %d (%s) is a running thread job: it shares its runtime process with other jobs, so it cannot be suspended alone; stop it, or start it %s", j.Row.ID, j.Row.Name, asProcess(&j.Row))
		default:
			live = append(live, j)
		}
		switch {
		case why == "":
		case named[j]:
			refused = append(refused, why)
		default:
			passed = append(passed, "not suspended: "+why)
		}
	}
	m.t.Unlock()
	if len(refused) > 0 {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "%s", strings.Join(refused, "; "))
	}
	admit.Tell(ctx, m.log, passed)
	if len(live) == 0 && len(passed) == 0 && len(js) > 0 {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "%s finished; only running or queued jobs can be suspended", jobList(js))
	}
	var ids []string
	for _, j := range live {
		if err := m.Suspend(ctx, j); err != nil {
			return nil, err
		}
		ids = append(ids, fmt.Sprint(j.Row.ID))
	}
	return ids, nil
}

// ResumeAll resumes those of js that are suspended and returns their ids.
func (m *Manager) ResumeAll(js []*jobs.Job) ([]string, error) {
	for _, j := range js {
		if j.Row.Slurm != nil && j.Row.State == api.Suspended {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) was suspended in Slurm; it is resumed there (scontrol resume, an operator's command)", j.Row.ID, j.Row.Name)
		}
	}
	var ids []string
	for _, j := range js {
		ok, err := m.Resume(j)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, fmt.Sprint(j.Row.ID))
		}
	}
	return ids, nil
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
