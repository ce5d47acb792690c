package sshloc

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
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
//
// A stop for a removal (remote.ForRemoval: remove --force) gives up on a
// child whose computer cannot be reached with the stop, and on any child
// still running when the wait is over: it ends Failed, its directory there
// is kept, and the caller is told that the job may still run there and how
// to end it. A PowerShell user's Remove-Job -Force drops a job whose
// remote session is gone, and a pueue user's remove drops the entry: a
// stop that waited for the computer to come back would keep the job in the
// list, the removal failing, for as long as the computer is away (or for
// good, a computer retired or renamed). What can be stopped still is.
func (l *Location) Stop(ctx context.Context, parents []*jobs.Job) error {
	forRemoval := remote.IsForRemoval(ctx)
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
				ch.stops++
				ch.unreachable, ch.failedStops = "", 0 // the connections made from now on say
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
			late := time.Now().After(deadline)
			if forRemoval {
				l.abandon(ctx, p, late, wait)
			}
			l.t.Lock()
			done, ch := p.Row.State.Finished(), p.Changed
			l.t.Unlock()
			if done {
				break
			}
			if late {
				return fmt.Errorf("job %d did not end on its computers within %v of the stop (are they reachable?); it is still being stopped, and 'bgjob remove --force' removes it whether they answer or not", p.Row.ID, wait)
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

// abandon ends, for a removal, those of p's children that cannot be
// stopped: each whose computer could not be reached with the stop, and,
// once the stop's wait is over (late), every one not ended. It tells the
// caller of ctx what may still run where, and how to end it.
func (l *Location) abandon(ctx context.Context, p *jobs.Job, late bool, wait time.Duration) {
	var gone []*jobs.Job
	var notices []string
	l.t.Lock()
	for _, k := range p.Children {
		if k.Row.State.Finished() {
			continue
		}
		ch := l.kids[k.Row.ID]
		computer := k.Row.SSH.Computer
		var why string
		switch {
		case ch != nil && ch.unreachable != "":
			why = computer + " cannot be reached (" + ch.unreachable + ")"
		case late:
			why = fmt.Sprintf("%s did not say it had ended within %v of the stop", computer, wait)
		default:
			continue
		}
		if ch != nil {
			ch.abandoned = true
			if ch.cancel != nil {
				ch.cancel() // an attempt to connect still under way
			}
		}
		l.t.FinishLocked(k, api.Failed, "removed without being stopped: "+why+"; it may still run there", nil)
		gone = append(gone, k)
		// Removing the directory before the task there has seen the
		// stop file (it looks every quarter second) would take away the
		// only way left to stop it: the second command is for after.
		notices = append(notices, fmt.Sprintf("job %d (%s) was removed without being stopped: %s, so it may still be running there; "+
			"once %s answers, %s stops it, and once it has stopped (a task-*.done file appears there), %s removes its files",
			k.Row.ID, k.Row.Name, why, computer, sshCommand(computer, "touch "+path.Join(k.Row.SSH.RemoteDir, "stop")),
			sshCommand(computer, "rm -rf "+k.Row.SSH.RemoteDir)))
	}
	l.t.Unlock()
	if len(gone) == 0 {
		return
	}
	for _, k := range gone {
		l.log.Warn("removed a job over SSH without stopping it on its computer", "job", k.Row.ID, "computer", k.Row.SSH.Computer)
		l.t.Persist(k)
	}
	l.settle(p)
	admit.Tell(ctx, l.log, notices)
}

// sshCommand is the command line that runs script on computer, as a user
// would type it, quoted: 'ssh -p PORT user@host script'.
func sshCommand(computer, script string) string {
	d, _ := parseComputer(computer) // Check took it
	if d.port != "" {
		return "'ssh -p " + d.port + " " + d.host + " " + script + "'"
	}
	return "'ssh " + d.host + " " + script + "'"
}

// ClaimLocked splits jobs into those over SSH (as their parents, each
// once) and the rest.
func (l *Location) ClaimLocked(js []*jobs.Job) (parents, rest []*jobs.Job) {
	return l.t.ClaimParentsLocked(js, func(r *store.Row) bool { return r.SSH != nil })
}
