package jobs

import (
	"fmt"
	"strconv"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// Why a job waits. A NotStarted job shows what keeps it from starting as
// its StateReason (in full) and StateNote (a word or two, for the table).
// The queue finds out each time it looks (ScheduleLocked) and keeps it in
// memory only: nothing is written for it, and a restarted host works it
// out again at its first look (Table.Start) before it answers anyone.

// holdKind is what keeps a queued job from starting.
type holdKind uint8

const (
	holdNone     holdKind = iota
	holdAfter             // a job it runs after (start --after) has not finished
	holdGroup             // its group is at its limit (or held, at 0)
	holdThrottle          // the thread jobs sharing its process are at their throttle limit
	holdAt                // its start time (start --at, --delay, a retry's delay) has not come
	holdBatch             // its batch (start --foreach) runs its throttle limit of children
)

// hold is what the queue found keeps a job waiting. The queue sets it on
// every look, for a job waiting for a time or other jobs in the job's own
// hold and for one waiting for a slot in its lane's or batch's (a full
// lane's jobs are not looked at one by one), so it is a plain value: no
// text is made until someone looks at the job.
type hold struct {
	kind holdKind
	// holdAfter: dep is the first job it runs after that has not
	// finished, more how many others have not.
	dep     uint64
	depName string
	more    int
	// holdGroup: the group; holdGroup and holdThrottle: how many run and
	// how many may.
	group          string
	running, limit int
	// holdAt: when it starts.
	at time.Time
}

// waiting says why j, a NotStarted job, has not started: its reason in
// full and as a note. A job on Slurm waits in Slurm's queue, whose reason
// the poller keeps in the row (a job on SSH for a connection, likewise); a job the queue has not looked at yet has
// neither.
func (j *Job) waiting() (reason, note string) {
	if w := j.Row.Elsewhere(); w != "" {
		return j.Row.StateReason, w
	}
	if IsBatchParent(&j.Row) {
		return "none of its child jobs has started", ""
	}
	h := j.hold
	if h.kind == holdNone && j.batch != nil && j.batch.kids != nil {
		h = j.batch.kids.hold // its batch's reason (see scheduleBatchLocked)
	} else if h.kind == holdNone && j.lane != nil {
		h = j.lane.hold // its lane's (see lanes.go)
	}
	switch h.kind {
	case holdAfter:
		reason = fmt.Sprintf("waiting for job %d (%s)", h.dep, h.depName)
		note = "after " + strconv.FormatUint(h.dep, 10)
		if h.more > 0 {
			reason += fmt.Sprintf(" and %d more", h.more)
			note += fmt.Sprintf(" +%d", h.more)
		}
		return reason, note
	case holdGroup:
		if h.limit == 0 {
			return fmt.Sprintf("group %s is held (max-running 0); bgjob queue --group %s --max-running N lets it run", h.group, h.group), h.group + " held"
		}
		return fmt.Sprintf("group %s is full (%d of %d running)", h.group, h.running, h.limit), h.group + " full"
	case holdAt:
		reason = "starts at " + h.at.Format("2006-01-02 15:04:05 MST")
		if j.Row.Attempt > 0 {
			// A retry: which attempt comes, and why the last one failed.
			reason = fmt.Sprintf("attempt %d of %d %s", j.Row.Attempt+1, j.Row.Retries+1, reason)
			if j.Row.StateReason != "" {
				reason += "; " + j.Row.StateReason
			}
		}
		return reason, "at " + h.at.Format("15:04:05")
	case holdBatch:
		return fmt.Sprintf("its batch's throttle limit is reached (%d of %d child jobs running)", h.running, h.limit), "throttled"
	case holdThrottle:
		return fmt.Sprintf("its thread jobs' throttle limit is reached (%d of %d running)", h.running, h.limit), "throttled"
	}
	return j.Row.StateReason, ""
}

// noExitCode reports whether a job that ended in state with code has, in
// truth, no exit code: a stopped job did not exit by itself, and the 0 a
// runtime's answer carries then (the protocol's field has no "none") is
// not a status it exited with. A stopped job whose runtime reports a code
// of its own (a signal's 128+n, say) keeps it.
func noExitCode(state api.State, code *int) bool {
	return state == api.Stopped && code != nil && *code == 0
}
