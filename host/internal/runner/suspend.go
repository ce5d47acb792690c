package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bgjob/bgjob/host/api"
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
