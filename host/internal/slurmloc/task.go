package slurmloc

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/bgjob/bgjob/host/store"
)

// followTask brings child k up to date: its records, its start, its end.
func (l *Location) followTask(k *jobs.Job, st slurm.JobState, final bool) {
	l.t.Lock()
	if k.Row.State.Finished() || k.Removed {
		l.t.Unlock()
		return
	}
	sj := *k.Row.Slurm
	begun := k.Row.State != api.NotStarted
	l.t.Unlock()
	// The end is read before the records: a task writes its end only
	// after its last record, so reading the log after it gets them all.
	ended, hasEnd := slurm.ReadEnded(sj.Dir, sj.Task)
	if err := l.tailTask(k, sj); err != nil {
		l.log.Error("cannot take a Slurm task's records", "job", k.Row.ID, "err", err)
		l.t.Lock()
		l.t.FinishLocked(k, api.Failed, fmt.Sprintf("the host cannot store the records of its task on Slurm (%v)", err), nil)
		l.t.Unlock()
		l.t.Persist(k)
		return
	}
	// The run of the Slurm job to follow: Slurm's count of its requeues,
	// or the task's files when they are of a later run than the host
	// knows (Slurm requeued the job while no host watched, or forgot it).
	// What the task wrote of an earlier run is neither this run's start
	// nor its end.
	run := max(sj.Run, st.Restarts)
	if hasEnd {
		run = max(run, ended.Run)
	}
	var started slurm.Started
	hasStart := begun && run == sj.Run // its start is read until it is seen
	if !hasStart {
		started, hasStart = slurm.ReadStarted(sj.Dir, sj.Task)
		if hasStart {
			run = max(run, started.Run)
			hasStart = started.Run == run
		}
	}
	hasEnd = hasEnd && ended.Run == run
	l.t.Lock()
	changed := false
	if run > sj.Run {
		l.requeuedLocked(k, st, run)
		changed = true
	}
	if hasStart && k.Row.State == api.NotStarted {
		l.t.MoveLocked(k, api.Running)
		k.Row.Location, k.Row.StateReason = started.Node, ""
		t := started.Time
		k.Row.PSBeginTime = &t
		changed = true
	}
	if st.State == "SUSPENDED" && k.Row.State == api.Running {
		changed = l.t.MoveLocked(k, api.Suspended)
	} else if st.State == "RUNNING" && k.Row.State == api.Suspended {
		changed = l.t.MoveLocked(k, api.Running)
	}
	switch {
	case hasEnd && (ended.State == string(api.Failed) || ended.Signalled) && !final && time.Since(l.endSeenLocked(k)) < slurmSettle:
		// A job that failed may have been killed by Slurm (a time limit,
		// memory): Slurm says so once the job has left its queue, which
		// is worth the wait for the reason.
	case hasEnd:
		state := api.State(ended.State)
		if !state.Finished() {
			state = api.Failed
		}
		reason := ended.Reason
		switch {
		case ended.Signalled:
			// Slurm ended it: Slurm's account decides (a time limit
			// fails it, a cancel in Slurm stops it).
			var why string
			state, why = slurmEnd(st)
			if !final {
				state, why = api.Failed, "ended by Slurm (TERM), which did not say why"
			}
			reason = why + "; the job: " + ended.Reason
		case final && state == api.Failed && st.State != "FAILED" && st.State != "COMPLETED":
			_, why := slurmEnd(st)
			reason += "; " + why
		}
		l.t.FinishLocked(k, state, reason, ended.ExitCode)
		changed = true
	case final:
		// Slurm ended the job without the task saying how: it was
		// cancelled, timed out, or its node or task never got going.
		state, reason := slurmEnd(st)
		if !hasStart && run == 0 {
			reason += taskNeverRan(sj.Dir)
		}
		switch {
		case k.Row.State == api.NotStarted && state == api.Stopped && run > 0:
			reason = fmt.Sprintf("stopped while Slurm held it requeued, before its run %d began (cancelled in Slurm)", run+1)
		case k.Row.State == api.NotStarted && state == api.Stopped:
			reason = "stopped before it started (cancelled in Slurm)"
		}
		l.t.FinishLocked(k, state, reason, nil)
		changed = true
	}
	if changed {
		k.NotifyLocked()
		if k.Row.State.Finished() {
			l.t.ScheduleLocked() // jobs that run after it
		}
	}
	l.t.Unlock()
	if changed {
		l.t.Persist(k)
	}
}

// requeuedLocked makes child k follow run run of its Slurm job, which
// Slurm requeued: the job goes back to NotStarted until the task of that
// run starts, rather than ending with the run Slurm took back, as Slurm
// itself shows a requeued job (PENDING, then RUNNING again, and only the
// last run's end is the job's). What the earlier runs wrote stays in the
// child's records (see task.Run): a user may have received it already,
// and Slurm truncating its own output file for the new run takes nothing
// from a record log.
func (l *Location) requeuedLocked(k *jobs.Job, st slurm.JobState, run int) {
	k.Row.Slurm.Run = run
	if ts := l.tasks[k.Row.ID]; ts != nil {
		ts.endAt = time.Time{} // the new run's end is waited for afresh
	}
	if k.Row.State == api.Running || k.Row.State == api.Suspended {
		l.t.MoveLocked(k, api.NotStarted)
	}
	k.Row.PSBeginTime = nil
	k.Row.StateReason = "Slurm requeued the job"
	if st.ID != "" {
		k.Row.StateReason += " (Slurm job " + st.ID + ")"
	}
	k.Row.StateReason += fmt.Sprintf(": it runs again from the start as run %d once Slurm starts it; the records of the run before are kept", run+1)
	l.log.Info("Slurm requeued a job; following its next run", "job", k.Row.ID, "slurm", st.ID, "run", run+1)
}

// slurmSettle bounds how long a child whose task recorded a failure waits
// for Slurm's account of the job's end.
const slurmSettle = 10 * time.Second

// endSeenLocked is when the poller first saw k's task end.
func (l *Location) endSeenLocked(k *jobs.Job) time.Time {
	ts := l.taskLocked(k)
	if ts.endAt.IsZero() {
		ts.endAt = time.Now()
	}
	return ts.endAt
}

// taskLocked is what the poller holds for child k, made when first asked.
func (l *Location) taskLocked(k *jobs.Job) *task {
	ts := l.tasks[k.Row.ID]
	if ts == nil {
		ts = &task{}
		l.tasks[k.Row.ID] = ts
	}
	return ts
}

// slurmEnd maps how Slurm says a job ended to a state and a reason.
func slurmEnd(st slurm.JobState) (api.State, string) {
	reason := "Slurm job " + st.ID + " ended " + st.State
	if st.Reason != "" {
		reason += " (" + st.Reason + ")"
	}
	if st.ExitCode != "" && st.ExitCode != "0:0" {
		reason += ", exit code " + st.ExitCode
	}
	switch st.State {
	case "COMPLETED":
		// Completed by Slurm's account, but the task did not record
		// the job's end: something between them failed.
		return api.Failed, reason + " without the task recording how the job ended"
	case "CANCELLED":
		return api.Stopped, reason
	case "TIMEOUT":
		return api.Failed, reason + ": it ran past its time limit (--time)"
	case "OUT_OF_MEMORY":
		return api.Failed, reason + ": it ran out of memory"
	case "NODE_FAIL":
		return api.Failed, reason + ": its node failed"
	}
	return api.Failed, reason
}

// taskNeverRan explains a task that left no trace in the job's directory,
// with the end of Slurm's own output for the job when there is some.
func taskNeverRan(dir string) string {
	msg := "; the task never started: bgjob needs " + dir + ", bgjobd and the runtime catalog on a filesystem the nodes share with the host"
	if b, err := os.ReadFile(slurm.OutputPath(dir)); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		out := strings.TrimSpace(string(b))
		if len(out) > 500 {
			out = "…" + out[len(out)-500:]
		}
		msg += "; Slurm's output: " + out
	}
	return msg
}

// tailTask appends to child k's log what its task's log holds beyond
// what k has.
func (l *Location) tailTask(k *jobs.Job, sj store.SlurmJob) error {
	l.t.Lock()
	ts := l.taskLocked(k)
	l.t.Unlock()
	return remote.Tail(l.t, k, slurm.LogPath(sj.Dir, sj.Task), &ts.cur)
}
