package runner

import (
	"context"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// armTimeout sets the timer of a job with a --timeout for its attempt's
// deadline: its begin (which the attach record keeps, so a host that comes
// back after the deadline stops the job at once) plus the timeout. The
// returned func disarms it.
func (tk *task) armTimeout() (disarm func()) {
	m, j := tk.m, tk.j
	m.t.Lock()
	timeout, attempt, begin := j.Row.Timeout, j.Row.Attempt, j.Row.PSBeginTime
	m.t.Unlock()
	if timeout <= 0 {
		return func() {}
	}
	at := time.Now().Add(timeout)
	if begin != nil {
		at = begin.Add(timeout)
	}
	timer := time.AfterFunc(time.Until(at), func() { tk.timeOut(attempt) })
	return func() { timer.Stop() }
}

// timeOut stops the job's attempt, whose time is up, as a stop does: its
// runtime asks it to end, and after the stop grace it is killed. The
// table makes the stop a failure (jobs.Job.TimedOut), which a retry may
// run again.
func (tk *task) timeOut(attempt int) {
	m, j, p := tk.m, tk.j, tk.p
	m.t.Lock()
	for j.RT == p && j.Row.Attempt == attempt && (j.Row.State == api.Suspended || j.Row.State == api.Suspending) {
		// A suspended job cannot take a stop (see Stop): its time is up
		// once it is resumed.
		ch := j.Changed
		m.t.Unlock()
		select {
		case <-ch:
		case <-m.t.Ctx().Done():
			return
		}
		m.t.Lock()
	}
	if j.RT != p || j.Row.Attempt != attempt || j.Row.State != api.Running {
		// Ended or stopped meanwhile.
		m.t.Unlock()
		return
	}
	j.TimedOut, j.StopAsked = true, true
	m.t.MoveLocked(j, api.Stopping)
	m.t.Unlock()
	m.log.Info("a job ran past its --timeout; stopping it", "job", j.Row.ID, "timeout", j.Row.Timeout)
	grace := m.cfg.StopGrace
	ctx, cancel := context.WithTimeout(m.t.Ctx(), stopAnswer)
	err := p.Conn().Stop(ctx, j.Row.ID, grace)
	cancel()
	if err != nil {
		m.log.Warn("the runtime did not take the stop; killing it", "job", j.Row.ID, "err", err)
		p.Kill()
		return
	}
	select {
	case <-time.After(grace + StopMargin):
	case <-m.t.Ctx().Done():
		return // the next host stops it, its deadline being past
	}
	m.t.Lock()
	still := j.RT == p && j.Row.Attempt == attempt && !j.Row.State.Finished()
	m.t.Unlock()
	if still {
		m.log.Warn("the runtime did not end its job within the stop grace; killing it", "job", j.Row.ID)
		p.Kill()
	}
}
