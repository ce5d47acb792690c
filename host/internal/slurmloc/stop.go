package slurmloc

import (
	"context"
	"fmt"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/runner"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/bgjob/bgjob/host/store"
)

// Stop stops jobs on Slurm as a local stop does: each task is asked to
// stop its job with the stop grace (TERM to every step); what has not ended
// after the grace and a margin is cancelled in Slurm.
func (l *Location) Stop(ctx context.Context, parents []*jobs.Job) error {
	grace := l.cfg.StopGrace
	for _, p := range parents {
		l.t.Lock()
		id, state := p.Row.Slurm.JobID, p.Row.State
		if !state.Finished() {
			l.t.MoveLocked(p, api.Stopping)
			p.NotifyLocked()
		}
		l.t.Unlock()
		if id == "" || state.Finished() {
			continue
		}
		var err error
		if state == api.NotStarted {
			err = l.client.Cancel(ctx, id)
		} else {
			err = slurm.RequestStop(p.Row.Slurm.Dir)
		}
		if err != nil {
			l.log.Warn("cannot stop a Slurm job gracefully; cancelling it", "slurm", id, "err", err)
			_ = l.client.Cancel(ctx, id)
		}
	}
	deadline := time.Now().Add(grace + runner.StopMargin + 2*slurmPoll)
	cancelled := false
	for _, p := range parents {
		for {
			l.t.Lock()
			done, ch, id := p.Row.State.Finished(), p.Changed, p.Row.Slurm.JobID
			l.t.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) && !cancelled {
				l.log.Warn("a Slurm job did not end within the stop grace; cancelling it", "slurm", id)
				_ = l.client.Cancel(ctx, id)
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

// ClaimLocked splits jobs into those on Slurm (as their parents, each
// once) and the rest.
func (l *Location) ClaimLocked(js []*jobs.Job) (parents, rest []*jobs.Job) {
	return l.t.ClaimParentsLocked(js, func(r *store.Row) bool { return r.Slurm != nil })
}
