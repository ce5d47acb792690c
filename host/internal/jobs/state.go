package jobs

import (
	"fmt"
	"os"

	"github.com/bgjob/bgjob/host/api"
)

// strict says whether a refused move panics. The tests set
// BGJOB_STRICT_STATES, so that a move missing from the table fails them;
// a user's host logs it and goes on.
func strict() bool { return os.Getenv("BGJOB_STRICT_STATES") != "" }

// A job's state changes only through MoveLocked, which allows the moves
// below and no others. They are every change the host makes: the queue,
// a runner, stop, suspend and resume, a host taking back the jobs its
// predecessor left (which may find a job's runtime in any state: a row is
// written NotStarted and its job may be found running), and the
// Slurm poller (which follows what Slurm says, requeues included). A
// finished job moves only when it is restarted in place.
//
// A move to the state a job is in is no change and always allowed.
var moves = map[api.State][]api.State{
	api.NotStarted: {api.Running, api.Suspended, api.Stopping, api.Blocked, api.Completed, api.Failed, api.Stopped},
	api.Running:    {api.Stopping, api.Suspending, api.Suspended, api.Blocked, api.NotStarted, api.Completed, api.Failed, api.Stopped},
	api.Stopping:   {api.Running, api.Blocked, api.Completed, api.Failed, api.Stopped},
	api.Suspending: {api.Running, api.Suspended, api.Stopping, api.Blocked, api.Completed, api.Failed, api.Stopped},
	api.Suspended:  {api.NotStarted, api.Running, api.Stopping, api.Completed, api.Failed, api.Stopped},
	api.Blocked:    {api.Running, api.Completed, api.Failed, api.Stopped},
	api.Completed:  {api.NotStarted},
	api.Failed:     {api.NotStarted},
	api.Stopped:    {api.NotStarted},
}

// Legal reports whether a job may move from one state to another.
func Legal(from, to api.State) bool {
	if from == to {
		return true
	}
	for _, s := range moves[from] {
		if s == to {
			return true
		}
	}
	return false
}

// MoveLocked moves j to state to, wakes whoever waits on j, and reports
// whether it did. A move the table does not allow is refused and j stays
// as it is: that is a bug in the host, logged so that it is seen.
func (t *Table) MoveLocked(j *Job, to api.State) bool {
	from := j.Row.State
	if !t.moveLocked(j, to) {
		return false
	}
	// A move to a finished state is told by FinishLocked, which sets the
	// reason and exit code first.
	if from != to && !to.Finished() && t.cfg.Moved != nil {
		t.cfg.Moved(j, from)
	}
	t.followParentLocked(j)
	return true
}

func (t *Table) moveLocked(j *Job, to api.State) bool {
	from := j.Row.State
	if !Legal(from, to) {
		t.log.Error("refused a change of a job's state that no job makes", "job", j.Row.ID, "from", from, "to", to)
		if strict() {
			panic(fmt.Sprintf("job %d: a move from %s to %s, which no job makes", j.Row.ID, from, to))
		}
		return false
	}
	j.Row.State = to
	t.trackLocked(j)
	j.NotifyLocked()
	return true
}
