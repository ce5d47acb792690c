package sshloc

import (
	"context"
	"fmt"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/runner"
	"github.com/bgjob/bgjob/host/store"
)

// stopMargin is how long past the grace a stop waits for the computers to
// say their jobs ended: the time to reach them again, if need be.
const stopMargin = 30 * time.Second

// Stop stops jobs over SSH as a local stop does: each child's task there is
// asked to stop its job with the stop grace (TERM, then KILL), through the
// connection that follows it, made again for that (and again after a
// drop, until the job has ended); a child not launched yet ends at once.
func (l *Location) Stop(ctx context.Context, parents []*jobs.Job) error {
	for _, p := range parents {
		l.t.Lock()
		if !p.Row.State.Finished() {
			l.t.MoveLocked(p, api.Stopping)
			p.NotifyLocked()
		}
		var ended []*jobs.Job
		for _, k := range p.Children {
			if k.Row.State.Finished() {
				continue
			}
			if ch := l.kids[k.Row.ID]; ch != nil {
				ch.stop = true
				if ch.cancel != nil {
					ch.cancel() // the next connection carries the stop
				}
			}
			if !k.Row.SSH.Launched {
				l.t.FinishLocked(k, api.Stopped, "stopped before it started", nil)
				ended = append(ended, k)
			}
		}
		l.t.Unlock()
		for _, k := range ended {
			l.t.Persist(k)
		}
		l.settle(p)
	}
	wait := l.cfg.StopGrace + runner.StopMargin + stopMargin
	deadline := time.Now().Add(wait)
	for _, p := range parents {
		for {
			l.t.Lock()
			done, ch := p.Row.State.Finished(), p.Changed
			l.t.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("job %d did not end on its computers within %v of the stop (are they reachable?); it is still being stopped", p.Row.ID, wait)
			}
			select {
			case <-ch:
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// ClaimLocked splits jobs into those over SSH (as their parents, each
// once) and the rest.
func (l *Location) ClaimLocked(js []*jobs.Job) (parents, rest []*jobs.Job) {
	return l.t.ClaimParentsLocked(js, func(r *store.Row) bool { return r.SSH != nil })
}
