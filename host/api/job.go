package api

import "time"

// State is a job's state, named as PowerShell names them.
type State string

// The job states. Finished means Completed, Failed or Stopped.
const (
	NotStarted   State = "NotStarted"
	Running      State = "Running"
	Completed    State = "Completed"
	Failed       State = "Failed"
	Stopped      State = "Stopped"
	Blocked      State = "Blocked"
	Suspended    State = "Suspended"
	Disconnected State = "Disconnected"
	Suspending   State = "Suspending"
	Stopping     State = "Stopping"
	AtBreakpoint State = "AtBreakpoint"
)

// AllStates lists every state, for validating a --state filter.
var AllStates = []State{NotStarted, Running, Completed, Failed, Stopped, Blocked, Suspended,
	Disconnected, Suspending, Stopping, AtBreakpoint}

// Finished reports whether a job in state s has ended for good.
func (s State) Finished() bool {
	return s == Completed || s == Failed || s == Stopped
}

// Runtime says which runtime plugin runs a job.
type Runtime struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Protocol int    `json:"protocol"`
	Path     string `json:"path,omitempty"`
}

// BackgroundJob is the type of a plain script job (sdk.BackgroundJob; the
// CLI does not link the SDK).
const BackgroundJob = "BackgroundJob"

// Job is a job's row: every property a user can see.
type Job struct {
	ID            uint64     `json:"Id"`
	Name          string     `json:"Name"`
	InstanceID    string     `json:"InstanceId"`
	PSJobTypeName string     `json:"PSJobTypeName"`
	State         State      `json:"State"`
	StateReason   string     `json:"StateReason,omitempty"`
	HasMoreData   bool       `json:"HasMoreData"`
	Location      string     `json:"Location"`
	Command       string     `json:"Command"`
	PSBeginTime   *time.Time `json:"PSBeginTime"`
	PSEndTime     *time.Time `json:"PSEndTime"`
	ChildJobs     []uint64   `json:"ChildJobs"`
	Runtime       Runtime    `json:"Runtime"`
	Workdir       string     `json:"Workdir"`
	// User runs the job; Owner started it (and alone, with root, sees it).
	User  string `json:"User"`
	Owner string `json:"Owner,omitempty"`
	// Definition names the stored definition the job was started from.
	Definition string    `json:"Definition,omitempty"`
	ExitCode   *int      `json:"ExitCode"`
	Created    time.Time `json:"Created"`
	// After lists the jobs this one waits for (start --after); with
	// AfterAnyState it runs however they ended, else only if all
	// completed.
	After         []uint64 `json:"After,omitempty"`
	AfterAnyState bool     `json:"AfterAnyState,omitempty"`
	// Group is the queue group whose limit the job counts against; empty
	// is DefaultGroup.
	Group string `json:"Group,omitempty"`
	// Priority orders the queue within a group: higher starts first, ties
	// by id (start --priority, edit --priority; default 0).
	Priority int `json:"Priority,omitempty"`
	// StateNote is StateReason in a word or two, for the job table: what a
	// NotStarted job waits for ("after 3", "gpu full"; StateReason says
	// it in full). It is the host's rendering only, not part of the JSON.
	StateNote string `json:"-"`
	// StartAt is when the job may start (start --at, --delay): until
	// then it waits NotStarted. A retry waiting out its --retry-delay
	// has it too.
	StartAt *time.Time `json:"StartAt,omitempty"`
	// Timeout (start --timeout) is how long an attempt may run before it
	// is stopped and fails; 0 is no limit.
	Timeout time.Duration `json:"Timeout,omitempty"`
	// Retries (start --retries) is how many times a failed attempt runs
	// again, RetryDelay how long after it fails; Attempt is the attempt
	// running or last run, from 1 (0: not started yet).
	Retries    int           `json:"Retries,omitempty"`
	RetryDelay time.Duration `json:"RetryDelay,omitempty"`
	Attempt    int           `json:"Attempt,omitempty"`
	// StdinOpen: the job's standard input stays open while it runs, for
	// `bgjob send` (start --stdin-open).
	StdinOpen bool `json:"StdinOpen,omitempty"`
	// Item is a child job's input line (start --foreach), its "$1" and
	// $BGJOB_ITEM.
	Item string `json:"Item,omitempty"`
}

// DefaultGroup is the queue group of a job started without --group.
const DefaultGroup = "default"

// GroupOf is j's group, DefaultGroup if it names none.
func (j *Job) GroupOf() string {
	if j.Group == "" {
		return DefaultGroup
	}
	return j.Group
}
