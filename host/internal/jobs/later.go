package jobs

import (
	"fmt"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// Later: a job that starts at a time (start --at, --delay), one whose
// attempt may run for so long (--timeout), and one whose failed attempt
// runs again (--retries, --retry-delay).
//
// A job waiting for its time is a NotStarted row with StartAt: the queue
// holds it (holdAt) and arms the table's one timer for the earliest such
// time, re-armed on each look, so it wakes up then and not by polling. The
// time is in the row: a host that was down then starts the job when it
// comes back, once (a job that ran has an attach record and is taken back,
// not started again).
//
// A retry is the same job again: a failed attempt moves back to
// NotStarted (Failed -> NotStarted, as a restart in place does), with its
// attempt number and, after --retry-delay, a StartAt. Only the last
// attempt's records are kept: a runtime numbers a job's records from 1,
// so a new attempt's could not follow the last one's in the same log.

// clock is the table's time, which the tests set.
type clock struct {
	now       func() time.Time
	afterFunc func(time.Duration, func()) interface{ Stop() bool }
}

func realClock() clock {
	return clock{now: time.Now, afterFunc: func(d time.Duration, f func()) interface{ Stop() bool } { return time.AfterFunc(d, f) }}
}

// CheckLater validates a start's --at, --delay, --timeout and --retries.
func CheckLater(req *api.StartRequest) error {
	if req.Timeout < 0 {
		return errorf(ErrBadRequest, "--timeout %s: give a positive duration such as 90s or 2h", req.Timeout)
	}
	if req.Retries < 0 {
		return errorf(ErrBadRequest, "--retries %d: give 0 (no retry) or more", req.Retries)
	}
	if req.RetryDelay < 0 {
		return errorf(ErrBadRequest, "--retry-delay %s: give 0 or a positive duration", req.RetryDelay)
	}
	if req.RetryDelay > 0 && req.Retries == 0 {
		return errorf(ErrBadRequest, "--retry-delay goes with --retries")
	}
	return nil
}

// Later reports whether a start asks for any of these, which only this
// machine's queue does.
func Later(req *api.StartRequest) bool {
	return req.StartAt != nil || req.Timeout != 0 || req.Retries != 0 || req.RetryDelay != 0
}

// armLocked sets the queue's timer to wake it at at (none if zero).
func (t *Table) armLocked(at time.Time) {
	if at.Equal(t.wakeAt) {
		return
	}
	if t.wake != nil {
		t.wake.Stop()
		t.wake = nil
	}
	t.wakeAt = at
	if at.IsZero() {
		return
	}
	// The timer runs on the monotonic clock, the time on the wall clock:
	// a wall clock set back meanwhile makes it fire before the time has
	// come, and the look it makes then arms the next one (wakeUp). The
	// monotonic clock also stands still while the machine sleeps, and
	// does not follow a wall clock set forward: a timer that waits at
	// most wakeCheck starts a job whose time came meanwhile that late at
	// most, not a night's sleep late.
	t.wakeGen++
	gen := t.wakeGen
	t.wake = t.clock.afterFunc(min(at.Sub(t.clock.now()), wakeCheck), func() { t.wakeUp(gen) })
}

// wakeCheck is the longest the queue's timer waits before it looks at the
// wall clock again.
const wakeCheck = time.Minute

// wakeUp is the timer's (armed as gen): a job's time may have come.
func (t *Table) wakeUp(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// A timer stopped too late fires anyway; the look is harmless. The
	// timer armed now has fired: the look arms the next, if any, even
	// for the same time (the wall clock may say it has not come yet).
	if gen == t.wakeGen {
		t.wake, t.wakeAt = nil, time.Time{}
	}
	t.ScheduleLocked()
}

// startingLocked counts the attempt the queue is starting.
func startingLocked(j *Job) {
	j.TimedOut = false
	j.Row.Attempt++
	if j.Row.Retries > 0 {
		j.Row.StateReason = fmt.Sprintf("attempt %d of %d", j.Row.Attempt, j.Row.Retries+1)
	}
}

// endingLocked is how an attempt that ends in state with reason is told:
// a stop its timeout made is a failure, and with retries the reason names
// the attempt.
func endingLocked(j *Job, from, state api.State, reason string) (api.State, string) {
	if state == api.Stopped && j.TimedOut {
		state, reason = api.Failed, fmt.Sprintf("timed out after %s (stopped with the stop grace)", j.Row.Timeout)
	}
	if j.Row.Retries > 0 && j.Row.Attempt > 0 && ran(j, from) {
		n := fmt.Sprintf("attempt %d of %d", j.Row.Attempt, j.Row.Retries+1)
		if reason == "" {
			reason = n
		} else {
			reason = n + ": " + reason
		}
	}
	return state, reason
}

// ran reports whether a job in state from has been started by the queue
// (a queued job that fails, its dependencies having failed, did not run).
func ran(j *Job, from api.State) bool {
	return from != api.NotStarted && !(from == api.Suspended && j.Row.SuspendedFrom == api.NotStarted)
}

// retryLocked runs j, whose attempt just failed, again if it has retries
// left: it is queued as it was, to start after its retry delay. Its reason
// (the failure) stays, for the user to see why it runs again.
func (t *Table) retryLocked(j *Job, from api.State) {
	if !t.willRetryLocked(j, from) {
		return
	}
	if !t.MoveLocked(j, api.NotStarted) {
		return
	}
	j.TimedOut = false
	// The next attempt's records replace these (see above): the log is
	// made anew when it runs.
	j.Log = nil
	j.Records++
	j.Row.LastSeq, j.Row.LogSize, j.Row.ReadOffset, j.Row.KeptRecords = 0, 0, 0, nil
	if t.cursors != nil {
		// Where the last attempt's records stood is not where this
		// one's will. (Its runtime's attach record stays until the next
		// attempt's replaces it: see StaleAttach.)
		t.cursors.Drop(j.Row.ID)
	}
	j.Row.ExitCode, j.Row.PSBeginTime, j.Row.PSEndTime = nil, nil, nil
	j.Row.StartAt = nil
	if j.Row.RetryDelay > 0 {
		at := t.clock.now().Add(j.Row.RetryDelay)
		j.Row.StartAt = &at
	}
	t.retrackLocked(j)
	t.log.Info("a job's attempt failed; running it again", "job", j.Row.ID, "attempt", j.Row.Attempt+1, "of", j.Row.Retries+1)
	j.NotifyLocked()
}

// willRetryLocked reports whether j, which has just ended coming from
// state from, runs again: it failed an attempt and has retries left.
func (t *Table) willRetryLocked(j *Job, from api.State) bool {
	return j.Row.State == api.Failed && j.Row.Attempt > 0 && j.Row.Attempt <= j.Row.Retries && ran(j, from) && !j.Removed
}

// Retrying reports whether r is a job waiting to run again after a failed
// attempt.
func Retrying(r *store.Row) bool {
	return r.State == api.NotStarted && r.Attempt > 0
}

// StaleAttach reports whether an attach record for attempt attempt is
// left from an attempt that row r, as stored, says has failed: the job
// waits to run again, and that runtime is not to be taken back. An attach
// record of a later attempt than the row knows is that attempt, running
// (or ended, its end not yet stored): it is taken back. So the record is
// never dropped before the row says the attempt failed, and a host killed
// in between runs no attempt twice.
func StaleAttach(r *store.Row, attempt int) bool {
	return Retrying(r) && attempt <= r.Attempt
}

// Requeued makes a job that waits to run again, as a restarted host found
// it, start its next attempt's records afresh (see above).
func (j *Job) Requeued() {
	if j.Log != nil {
		_ = j.Log.Close()
		j.Log = nil
	}
	j.Records++
	j.Row.LastSeq, j.Row.LogSize, j.Row.ReadOffset, j.Row.KeptRecords = 0, 0, 0, nil
}
