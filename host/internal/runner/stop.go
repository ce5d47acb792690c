package runner

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/launch"
)

// Stop stops the local jobs js (selected by the caller) and waits until they
// have ended; it returns their ids. A queued job is stopped at once; a
// running one gets the stop grace to end, then its processes are killed.
func (m *Manager) Stop(ctx context.Context, js []*jobs.Job) ([]string, error) {
	m.t.Lock()
	var frozen []*jobs.Job
	for _, j := range js {
		if j.Row.State == api.Suspended && j.Row.SuspendedFrom == api.Running {
			frozen = append(frozen, j)
		}
	}
	if len(frozen) > 0 {
		// A stopped process takes no signal but SIGKILL: a suspended job
		// runs again to be stopped, so it gets its grace.
		m.t.Unlock()
		for _, j := range frozen {
			if _, err := m.Resume(j); err != nil {
				return nil, err
			}
		}
		m.t.Lock()
	}
	var ids []string
	type stopping struct {
		j  *jobs.Job
		rt launch.Process
	}
	var running []stopping
	var queued []*jobs.Job
	var unanswering []*launch.Attach
	for _, j := range js {
		ids = append(ids, strconv.FormatUint(j.Row.ID, 10))
		switch {
		case j.Row.State == api.Blocked && j.RT == nil && j.Detached != nil:
			// Its runtime was stopped when this host started and cannot
			// answer: it is killed, with what the job started.
			unanswering = append(unanswering, &j.Detached.Attach)
			j.Detached = nil
			m.t.FreeSlotLocked(j)
			m.t.FinishLocked(j, api.Stopped, "stopped while its runtime was stopped (SIGSTOP); the runtime and what the job started were killed", nil)
			queued = append(queued, j)
		case j.Row.State == api.Suspended && j.Row.SuspendedFrom == api.Running:
			// Suspended again since it was resumed above.
			m.t.Unlock()
			return nil, errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) was suspended again while being stopped; stop it again", j.Row.ID, j.Row.Name)
		case j.Row.State == api.NotStarted || j.Row.State == api.Suspended || (j.Row.State == api.Running && j.RT == nil):
			// Queued, or its runtime is still starting: launch sees this.
			m.t.FinishLocked(j, api.Stopped, "stopped before it started", nil)
			queued = append(queued, j)
		case j.Row.State == api.Running || j.Row.State == api.Stopping || j.Row.State == api.Suspending:
			// A job being suspended is stopped as a running one: if its
			// runtime is stopped before it answers, it is killed.
			m.t.MoveLocked(j, api.Stopping)
			j.StopAsked = true
			j.NotifyLocked()
			running = append(running, stopping{j, j.RT})
		}
	}
	if len(queued) > 0 {
		// Jobs that run after these fail now.
		m.t.ScheduleLocked()
	}
	m.t.Unlock()
	for _, a := range unanswering {
		launch.End(a)
	}
	for _, j := range queued {
		m.t.Persist(j)
	}
	grace := m.cfg.StopGrace
	// A live runtime answers a stop at once; one that does not (frozen,
	// or stuck) is killed, with everything its job started.
	var asked sync.WaitGroup
	for _, s := range running {
		asked.Add(1)
		go func() {
			defer asked.Done()
			actx, cancel := context.WithTimeout(ctx, stopAnswer)
			defer cancel()
			if err := s.rt.Conn().Stop(actx, s.j.Row.ID, grace); err != nil {
				m.log.Warn("the runtime did not take the stop; killing it", "job", s.j.Row.ID, "err", err)
				s.rt.Kill()
			}
		}()
	}
	asked.Wait()
	// The runtime reports Stopped once the job's processes are gone. If it
	// does not within the grace and a margin, kill it; the relay then
	// records the job as Stopped.
	deadline := time.Now().Add(grace + StopMargin)
	for _, s := range running {
		killed := false
		for {
			m.t.Lock()
			done, ch := s.j.Row.State.Finished(), s.j.Changed
			m.t.Unlock()
			if done {
				break
			}
			left := time.Until(deadline)
			if left <= 0 && !killed {
				m.log.Warn("the runtime did not end its job within the stop grace; killing it", "job", s.j.Row.ID)
				s.rt.Kill()
				killed, left = true, 0
			}
			if left <= 0 {
				left = 10 * time.Second // for the relay to notice the kill
			}
			select {
			case <-ch:
			case <-time.After(left):
				if killed {
					return nil, fmt.Errorf("job %d did not end after its runtime was killed", s.j.Row.ID)
				}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return ids, nil
}

// stopAnswer bounds the wait for a runtime to take a stop request, and
// StopMargin how long after the grace it has to report the job's end:
// enough to end and reap the job's processes and send what they printed.
const (
	stopAnswer = 2 * time.Second
	StopMargin = 2 * time.Second
)
