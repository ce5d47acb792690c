package api

import "time"

// RestartRequest is `bgjob restart JOB...`: each finished job runs again
// with what it was given (script, arguments, input, working directory,
// environment, runtime constraint, user, group, dependencies).
type RestartRequest struct {
	// InPlace reuses each job's row (id and name) instead of making a
	// new job; its old records go.
	InPlace bool `json:"inPlace,omitempty"`
	// Script, if set, replaces the job's script (restart --edit). Show
	// asks only for the script the job ran, to edit: nothing restarts.
	Script *string `json:"script,omitempty"`
	Show   bool    `json:"show,omitempty"`
	// After, if set, replaces the job's dependencies.
	After         []string `json:"after,omitempty"`
	AfterAnyState bool     `json:"afterAnyState,omitempty"`
	// Password is the password of the user a job ran as, needed when
	// that is another user and the caller is not root.
	Password string `json:"password,omitempty"`
	// RequestID, if set, names this restart (NewInstanceID), so that it
	// can be sent again: the host remembers it on each job it restarted,
	// and a restart with the same id returns those jobs instead of
	// restarting anything twice.
	RequestID string `json:"requestId,omitempty"`
}

// EditRequest is `bgjob edit JOB`: what changes in a job that has not
// started; nil fields leave that part as it is. Show asks only for the
// job's script, to edit: nothing changes.
type EditRequest struct {
	Script   *string  `json:"script,omitempty"`
	Show     bool     `json:"show,omitempty"`
	Env      []string `json:"env,omitempty"` // K=V, set in its environment
	Workdir  *string  `json:"workdir,omitempty"`
	Priority *int     `json:"priority,omitempty"`
	// After, if not empty, replaces the jobs it waits for.
	After         []string `json:"after,omitempty"`
	AfterAnyState bool     `json:"afterAnyState,omitempty"`
}

// QueueRequest is `bgjob queue`: nil fields leave a setting as it is.
type QueueRequest struct {
	// Group is the group MaxRunning applies to (default DefaultGroup).
	Group      string `json:"group,omitempty"`
	MaxRunning *int   `json:"maxRunning,omitempty"`
	// KeepFinished keeps the newest N finished jobs per user (0: all);
	// KeepFor removes finished jobs that ended longer ago than this
	// (a duration such as 36h or 7d; "0" or "": for ever).
	KeepFinished *int    `json:"keepFinished,omitempty"`
	KeepFor      *string `json:"keepFor,omitempty"`
	// OnEnd is the command the host runs when any job ends ("" stops
	// running one).
	OnEnd *string `json:"onEnd,omitempty"`
}

// Queue is the host's queue as `bgjob queue` shows it.
type Queue struct {
	Groups       []GroupState `json:"Groups"`
	KeepFinished int          `json:"KeepFinished"`
	KeepFor      string       `json:"KeepFor"`
	OnEnd        string       `json:"OnEnd,omitempty"`
}

// GroupState is one queue group: its limit and the caller's jobs in it.
type GroupState struct {
	Name       string `json:"Name"`
	MaxRunning int    `json:"MaxRunning"`
	Running    int    `json:"Running"`
	Queued     int    `json:"Queued"`
	Suspended  int    `json:"Suspended"`
}

// Location is a place jobs can run, as `bgjob location list` shows it.
type Location struct {
	Name      string `json:"Name"`
	Kind      string `json:"Kind"`
	Reachable bool   `json:"Reachable"`
	// Detail says what is there (partitions, the shared directory) or,
	// when it cannot be reached, why.
	Detail string `json:"Detail"`
}

// Event is one change of a job's state, as `bgjob events` shows it. Seq
// numbers the host's events in order: `events --since SEQ` resumes after it.
type Event struct {
	Seq      uint64    `json:"Seq"`
	Time     time.Time `json:"Time"`
	JobID    uint64    `json:"JobId"`
	Name     string    `json:"Name"`
	Group    string    `json:"Group,omitempty"`
	From     State     `json:"From"`
	To       State     `json:"To"`
	Reason   string    `json:"Reason,omitempty"`
	ExitCode *int      `json:"ExitCode,omitempty"`
}

// EventsRequest is `bgjob events`: Since resumes after an event's Seq (nil
// starts from now); UntilDone ends the stream once the selected jobs have
// all finished.
type EventsRequest struct {
	Since     *uint64 `json:"since,omitempty"`
	UntilDone bool    `json:"untilDone,omitempty"`
}
