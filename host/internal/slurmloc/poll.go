package slurmloc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/slurm"
)

// slurmPoll is how often the host reads the Slurm jobs' files and asks
// Slurm about them.
const slurmPoll = 500 * time.Millisecond

// slurmAsk is how often the host asks Slurm about its running jobs when
// nothing calls for it sooner; slurmAskSoon how long after its submission
// a job is asked about at every poll.
const (
	slurmAsk     = 5 * time.Second
	slurmAskSoon = 10 * time.Second
)

// followLocked makes sure the Slurm poller runs. It runs only while
// there are unfinished jobs on Slurm: a host without any (most) does not
// walk its job table every poll.
func (l *Location) followLocked() {
	if !l.following {
		l.following = true
		l.t.Go(l.loop)
	}
}

// loop follows the jobs on Slurm until none is left unfinished, or
// the host closes.
func (l *Location) loop() {
	t := time.NewTicker(slurmPoll)
	defer t.Stop()
	for l.poll(l.t.Ctx()) {
		select {
		case <-l.t.Ctx().Done():
			return
		case <-t.C:
		}
	}
}

// poll brings every unfinished job on Slurm up to date, and reports
// whether there were any (if not, the poller stops until the next).
func (l *Location) poll(ctx context.Context) bool {
	l.t.Lock()
	var parents []*jobs.Job
	var ids []string
	pending := 0
	for j := range l.t.AllLocked() {
		if j.Row.Slurm == nil || j.Row.Parent != 0 || j.Row.State.Finished() {
			continue
		}
		pending++
		if !l.submitting[j.Row.ID] {
			parents = append(parents, j)
			if j.Row.Slurm.JobID != "" {
				ids = append(ids, j.Row.Slurm.JobID)
			}
		}
	}
	urgent := false
	for _, p := range parents {
		// Just submitted (its fate is news), being stopped, or with every
		// task ended (Slurm's account settles it): ask Slurm now.
		ended := len(p.Children) > 0
		for _, k := range p.Children {
			ts := l.tasks[k.Row.ID]
			ended = ended && (k.Row.State.Finished() || ts != nil && !ts.endAt.IsZero())
		}
		urgent = urgent || ended || p.Row.State == api.Stopping || time.Since(p.Row.Created) < slurmAskSoon
	}
	// What the poller held for a child it no longer follows goes.
	for id := range l.tasks {
		if k := l.t.GetLocked(id); k == nil || k.Removed || k.Row.State.Finished() {
			delete(l.tasks, id)
		}
	}
	if pending == 0 {
		l.following = false
	}
	l.t.Unlock()
	if len(parents) == 0 {
		return pending > 0
	}
	// The tasks' files are read every poll; Slurm's controller, which
	// every user's tools load, is asked every slurmAsk unless it matters
	// now.
	fresh := urgent || time.Since(l.asked) >= slurmAsk
	if fresh {
		active, err := l.client.Active(ctx, ids)
		if err != nil {
			l.log.Warn("cannot ask Slurm about its jobs; asking again", "err", err)
			return true
		}
		l.active, l.asked = active, time.Now()
	}
	for _, p := range parents {
		l.follow(ctx, p, l.active, fresh)
	}
	return true
}

// follow reads what parent's tasks wrote and what Slurm says of it.
//
// With fresh false, active is what Slurm said a while ago: a job missing
// from it is not asked after (it may simply be newer than the answer).
func (l *Location) follow(ctx context.Context, p *jobs.Job, active map[string]slurm.JobState, fresh bool) {
	l.t.Lock()
	id, kids := p.Row.Slurm.JobID, append([]*jobs.Job(nil), p.Children...)
	l.t.Unlock()
	if id == "" {
		l.adopt(ctx, p)
		return
	}
	st, queued := active[id]
	final := false
	if !queued && !fresh {
		st = slurm.JobState{ID: id}
	} else if !queued {
		// Left the queue, or not in it yet: scontrol (or sacct) knows.
		fs, err := l.client.Final(ctx, id)
		if err != nil {
			// Slurm may have forgotten it (past MinJobAge, no
			// accounting): the tasks' own files still say how it went.
			l.log.Warn("cannot ask Slurm how a job ended", "slurm", id, "err", err)
			fs = slurm.JobState{ID: id}
		}
		st, final = fs, slurmFinal(fs.State)
	}
	for _, k := range kids {
		l.followTask(k, st, final)
	}
	l.settleParent(p, st)
}

// adopt finds in Slurm a job whose host died while submitting it, by
// its name; one Slurm never got fails.
func (l *Location) adopt(ctx context.Context, p *jobs.Job) {
	l.t.Lock()
	name, created := slurmName(&p.Row), p.Row.Created
	l.t.Unlock()
	id, err := l.client.FindByName(ctx, name)
	switch {
	case err != nil:
		l.log.Warn("cannot look for a job in Slurm", "name", name, "err", err)
	case id != "":
		l.t.Lock()
		p.Row.Slurm.JobID = id
		l.t.Unlock()
		l.t.Persist(p)
		l.log.Info("found a job the previous host submitted", "job", p.Row.ID, "slurm", id)
	case l.tasksBegan(p):
		// Slurm ran it and has let it go: its tasks' files tell the rest.
		l.t.Lock()
		kids := append([]*jobs.Job(nil), p.Children...)
		l.t.Unlock()
		for _, k := range kids {
			l.followTask(k, slurm.JobState{}, false)
		}
		l.settleParent(p, slurm.JobState{State: "RUNNING"})
	case time.Since(created) > 10*time.Second:
		l.t.Lock()
		kids := append([]*jobs.Job(nil), p.Children...)
		for _, k := range kids {
			if !k.Row.State.Finished() {
				l.t.FinishLocked(k, api.Failed, "the host stopped while submitting the job to Slurm, which never got it", nil)
			}
		}
		l.t.FinishLocked(p, api.Failed, "the host stopped while submitting the job to Slurm, which never got it", nil)
		l.t.ScheduleLocked()
		l.t.Unlock()
		for _, k := range kids {
			l.t.Persist(k)
		}
		l.t.Persist(p)
	}
}

// tasksBegan reports whether any of p's tasks has started, by its files.
func (l *Location) tasksBegan(p *jobs.Job) bool {
	l.t.Lock()
	kids := append([]*jobs.Job(nil), p.Children...)
	l.t.Unlock()
	for _, k := range kids {
		if _, ok := slurm.ReadStarted(k.Row.Slurm.Dir, k.Row.Slurm.Task); ok {
			return true
		}
	}
	return false
}

// slurmFinal reports whether a Slurm state is an end.
func slurmFinal(state string) bool {
	switch state {
	case "PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "":
		return false
	}
	return true
}

// settleParent sets the parent's state from Slurm's and its children's:
// finished once they all are (Failed if one failed, else Stopped if one
// was stopped, else Completed); its Location lists their nodes.
func (l *Location) settleParent(p *jobs.Job, st slurm.JobState) {
	l.t.Lock()
	if p.Row.State.Finished() {
		l.t.Unlock()
		return
	}
	before := p.Row
	var nodes []string
	seen := map[string]bool{}
	all, anyRunning := true, false
	for _, k := range p.Children {
		anyRunning = anyRunning || k.Row.State == api.Running
		if k.Row.Location != api.LocationSlurm && !seen[k.Row.Location] {
			seen[k.Row.Location] = true
			nodes = append(nodes, k.Row.Location)
		}
		all = all && k.Row.State.Finished()
	}
	if len(nodes) > 0 {
		p.Row.Location = strings.Join(nodes, ", ")
	}
	// The parent began when its first task did (it may never have been
	// seen running between two polls).
	for _, k := range p.Children {
		if b := k.Row.PSBeginTime; b != nil && (p.Row.PSBeginTime == nil || b.Before(*p.Row.PSBeginTime)) {
			t := *b
			p.Row.PSBeginTime = &t
		}
	}
	switch {
	case all:
		l.t.FinishParentLocked(p)
	case p.Row.State == api.Stopping:
	case st.State == "PENDING" || strings.HasPrefix(st.State, "REQUEUE"):
		// Queued, or queued again: a requeued job is NotStarted until
		// its next run begins, as Slurm has it PENDING (see
		// requeuedLocked).
		l.t.MoveLocked(p, api.NotStarted)
		p.Row.StateReason = "Slurm job " + st.ID + ": pending"
		if st.Restarts > 0 {
			p.Row.StateReason = fmt.Sprintf("Slurm job %s: requeued, pending its run %d", st.ID, st.Restarts+1)
		}
		if st.Reason != "" {
			p.Row.StateReason += " (" + st.Reason + ")"
		}
	case st.State == "SUSPENDED":
		l.t.MoveLocked(p, api.Suspended)
		p.Row.StateReason = "Slurm job " + st.ID + ": suspended"
	case st.State == "" && !anyRunning:
		// Slurm was not asked this time, and no task has begun.
	default:
		if p.Row.State != api.Running {
			now := time.Now()
			p.Row.PSBeginTime = &now
		}
		l.t.MoveLocked(p, api.Running)
		p.Row.StateReason = "Slurm job " + st.ID
	}
	changed := p.Row.State != before.State || p.Row.Location != before.Location || p.Row.StateReason != before.StateReason
	if changed {
		p.NotifyLocked()
	}
	l.t.Unlock()
	if changed {
		l.t.Persist(p)
	}
}
