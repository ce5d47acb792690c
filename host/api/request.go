package api

import (
	"strings"
	"time"
)

// Operations a Request can ask for.
const (
	OpPing     = "ping"
	OpStart    = "start"
	OpGet      = "get"
	OpReceive  = "receive"
	OpWait     = "wait"
	OpStop     = "stop"
	OpRemove   = "remove"
	OpSuspend  = "suspend"
	OpResume   = "resume"
	OpRestart  = "restart"
	OpQueue    = "queue"
	OpLocation = "location"
	OpEdit     = "edit"
	OpEvents   = "events"
	OpSend     = "send"
)

// Output formats.
const (
	FormatTable = "table"
	// FormatWide is the table with begin and end time, duration, exit
	// code and runtime.
	FormatWide = "wide"
	FormatJSON = "json"
	FormatText = "text"
	// FormatID is the jobs' ids alone, one a line, for scripts
	// (start -q).
	FormatID = "id"
)

// StartRequest is everything `bgjob start` says about a new job. Paths are
// absolute: the daemon's working directory is not the caller's.
type StartRequest struct {
	Name string `json:"name,omitempty"`
	// InstanceID, if set, is the new job's instance id, chosen by the
	// caller (NewInstanceID) so that the start can be sent again: a host
	// that already has a job of this caller with this instance id returns
	// that job instead of making another. The CLI sends the same one when
	// it retries a start the host vanished from.
	InstanceID string `json:"instanceId,omitempty"`
	// Type is the job type (-Type): empty or BackgroundJob for a script in
	// a runtime, else a custom type a plugin serves. DefinitionName and
	// DefinitionPath name a stored definition of it (-DefinitionName,
	// -DefinitionPath; the path is absolute).
	Type           string   `json:"type,omitempty"`
	DefinitionName string   `json:"definitionName,omitempty"`
	DefinitionPath string   `json:"definitionPath,omitempty"`
	Script         string   `json:"script,omitempty"`
	File           string   `json:"file,omitempty"`
	LiteralPath    string   `json:"literalPath,omitempty"`
	Init           string   `json:"init,omitempty"`
	InitFile       string   `json:"initFile,omitempty"`
	Args           []string `json:"args,omitempty"`
	Input          []byte   `json:"input,omitempty"`
	Workdir        string   `json:"workdir"`
	// Env is the caller's environment; EnvAdd what --env adds to it. A
	// job run as another user gets EnvAdd, not the caller's environment.
	Env    []string `json:"env,omitempty"`
	EnvAdd []string `json:"envAdd,omitempty"`
	// Umask is the caller's file mode creation mask, which the job starts
	// with.
	Umask          *uint32 `json:"umask,omitempty"`
	Runtime        string  `json:"runtime,omitempty"`
	RuntimeVersion string  `json:"runtimeVersion,omitempty"`
	// RunAs32 runs the 32-bit build of the runtime (PowerShell's -RunAs32).
	RunAs32 bool `json:"runAs32,omitempty"`
	// Thread makes a thread job (Start-ThreadJob): it shares one runtime
	// process with the other thread jobs of its runtime and user, each in
	// an interpreter of its own, at most ThrottleLimit (default 5)
	// running at once.
	Thread        bool `json:"thread,omitempty"`
	ThrottleLimit int  `json:"throttleLimit,omitempty"`
	// ForEach makes a batch (start --foreach, ForEach-Object -Parallel
	// -AsJob): one parent job with a child job per item, each running
	// the script with the item as "$1" and $BGJOB_ITEM, at most
	// ThrottleLimit (default 5) children at once. Items are not empty.
	// The children are thread jobs, as ForEach-Object -Parallel's
	// runspaces share one process, when the runtime can share a process;
	// else, or with Processes, BackgroundJobs.
	ForEach []string `json:"forEach,omitempty"`
	// Processes makes a batch's children BackgroundJobs, each in a
	// runtime process of its own while it runs, which can be suspended
	// and signalled alone and do not share a crash.
	Processes bool `json:"processes,omitempty"`
	// Credential names the user the job runs as (-Credential); Password is
	// theirs, needed unless the caller is root. It is checked and dropped:
	// never stored, never passed to the job. Authentication is
	// -Authentication's mechanism.
	Credential     string `json:"credential,omitempty"`
	Password       string `json:"password,omitempty"`
	Authentication string `json:"authentication,omitempty"`
	// Command is the job's command as shown in the job table.
	Command string `json:"command,omitempty"`
	// After names jobs (ids, names, wildcards) that must have finished
	// before this one runs; unless AfterAnyState, all must have
	// completed, else this job fails without running.
	After         []string `json:"after,omitempty"`
	AfterAnyState bool     `json:"afterAnyState,omitempty"`
	// Group is the queue group (default DefaultGroup).
	Group string `json:"group,omitempty"`
	// Priority orders the group's queue: higher starts first.
	Priority int `json:"priority,omitempty"`
	// Location is where the job runs: empty or "localhost" here, "slurm"
	// on the Slurm cluster Slurm's commands reach, as Slurm says, "ssh"
	// on the computers SSH names.
	Location string        `json:"location,omitempty"`
	Slurm    *SlurmRequest `json:"slurm,omitempty"`
	SSH      *SSHRequest   `json:"ssh,omitempty"`
	// MergeError makes the job's standard error output, as 2>&1 does
	// (--merge-error): its stderr lines are Output records, not Error
	// records. Errors the job reports on purpose (write-error) stay errors.
	MergeError bool `json:"mergeError,omitempty"`
	// StartAt is when the job starts, at the earliest (--at, --delay: the
	// CLI reads the caller's local time). Timeout, Retries and RetryDelay
	// are --timeout, --retries and --retry-delay.
	StartAt    *time.Time    `json:"startAt,omitempty"`
	Timeout    time.Duration `json:"timeout,omitempty"`
	Retries    int           `json:"retries,omitempty"`
	RetryDelay time.Duration `json:"retryDelay,omitempty"`
	// OnEnd is a command (sh -c) the host runs when the job ends, as the
	// job's user in its working directory (start --on-end).
	OnEnd string `json:"onEnd,omitempty"`
	// StdinOpen keeps the job's standard input open while it runs, for
	// `bgjob send` (start --stdin-open): it reads Input first, then what
	// is sent, until it is sent end of file. Without it the input ends
	// after Input.
	StdinOpen bool `json:"stdinOpen,omitempty"`
}

// SendRequest is OpSend's: what to write to the standard input of one
// running job started with StdinOpen (bgjob send).
type SendRequest struct {
	// Data is written as it is (the CLI adds the newline); EOF then
	// closes the job's input.
	Data []byte `json:"data,omitempty"`
	EOF  bool   `json:"eof,omitempty"`
}

// MaxSend bounds the data of one SendRequest: `bgjob send -` sends what
// it reads in pieces of at most this much, each written before the next
// is read, so a job that reads slowly slows the sender down.
const MaxSend = 1 << 20

// Locations a job can run at.
const (
	LocationLocal = "localhost"
	LocationSlurm = "slurm"
	LocationSSH   = "ssh"
)

// SSHRequest is what a job on the SSH location asks: one child job per
// computer (Invoke-Command -ComputerName), at most ThrottleLimit of them
// connected at once (default DefaultSSHThrottle).
type SSHRequest struct {
	// Computers are names, user@host:port or ssh_config aliases.
	Computers     []string `json:"computers"`
	ThrottleLimit int      `json:"throttleLimit,omitempty"`
}

// DefaultSSHThrottle is Invoke-Command's default -ThrottleLimit.
const DefaultSSHThrottle = 32

// SlurmRequest is what a job on the Slurm location asks of Slurm: one
// child job per task (Tasks), else per node (Nodes, NodeList).
type SlurmRequest struct {
	Partition string   `json:"partition,omitempty"`
	Nodes     int      `json:"nodes,omitempty"`
	NodeList  string   `json:"nodeList,omitempty"`
	Tasks     int      `json:"tasks,omitempty"`
	Time      string   `json:"time,omitempty"`
	Args      []string `json:"args,omitempty"`
}

// MaxSlurmTasks bounds the tasks (--ntasks), or nodes (--nodes,
// --nodelist), of one job on Slurm. Each is a child job: a row written
// when the job is submitted, files in the job's directory that the host
// reads every half second while the job lasts, a runtime on its node. On
// the 2-core test machine a job of 1,024 tasks waiting in Slurm's queue
// cost the host about 2.5% of a core; one of 100,000 took 30 s to submit,
// 246 MB of rows and files, and 73% of a core while it waited. Many items
// are many jobs (or --foreach on this machine), not many tasks.
const MaxSlurmTasks = 1024

// Filter narrows `bgjob get`.
type Filter struct {
	State       string `json:"state,omitempty"`
	Command     string `json:"command,omitempty"`
	HasMoreData *bool  `json:"hasMoreData,omitempty"`
	Type        string `json:"type,omitempty"`
	Newest      int    `json:"newest,omitempty"`
	Group       string `json:"group,omitempty"`
	// IncludeChildJobs lists child jobs too (-IncludeChildJob): a job on
	// several nodes is a parent with a child job per node or task.
	IncludeChildJobs bool `json:"includeChildJobs,omitempty"`
	// Before and After keep the jobs that began (PSBeginTime; one not
	// begun yet: when it was created) before, and at or after, a time.
	Before *time.Time `json:"before,omitempty"`
	After  *time.Time `json:"after,omitempty"`
	// ChildJobState keeps the jobs with a child job in this state (a job
	// on Slurm has one per node or task).
	ChildJobState string `json:"childJobState,omitempty"`
}

// Request is one CLI call. Jobs selects jobs by id, name (wildcards allowed)
// or instance id.
type Request struct {
	Op     string        `json:"op"`
	Jobs   []string      `json:"jobs,omitempty"`
	Start  *StartRequest `json:"start,omitempty"`
	Filter *Filter       `json:"filter,omitempty"`
	// Definition is OpDefinition's request, Restart OpRestart's and Queue
	// OpQueue's.
	Definition *DefinitionRequest `json:"definition,omitempty"`
	Restart    *RestartRequest    `json:"restart,omitempty"`
	Queue      *QueueRequest      `json:"queue,omitempty"`
	Edit       *EditRequest       `json:"edit,omitempty"`
	Events     *EventsRequest     `json:"events,omitempty"`
	Send       *SendRequest       `json:"send,omitempty"`
	Output     string             `json:"output,omitempty"`

	Keep       bool    `json:"keep,omitempty"`
	Wait       bool    `json:"wait,omitempty"`
	AutoRemove bool    `json:"autoRemove,omitempty"`
	Any        bool    `json:"any,omitempty"`
	Force      bool    `json:"force,omitempty"`
	PassThru   bool    `json:"passThru,omitempty"`
	Verbose    bool    `json:"verbose,omitempty"`
	Debug      bool    `json:"debug,omitempty"`
	Timeout    float64 `json:"timeout,omitempty"` // seconds; 0 waits for ever
	// Signal, for a stop, is a signal's name (TERM, HUP, USR1, ...) to
	// send to the running jobs' processes instead of stopping them.
	Signal string `json:"signal,omitempty"`
	// Prefix labels each line of received text with its job.
	Prefix bool `json:"prefix,omitempty"`
	// Tail, if set, receives only the last Tail records (lines) of each
	// job that the output shows, without consuming anything; with Wait,
	// and then what follows (receive --tail).
	Tail *int `json:"tail,omitempty"`
	// Location keeps the received jobs at this location (receive
	// --location).
	Location string `json:"location,omitempty"`
	// Term describes the caller's terminal; nil is a pipe or a file.
	Term *Terminal `json:"term,omitempty"`
	// Acks: the caller acknowledges the reply's frames (FrameAck) as it
	// writes them out; a receive counts records received only then.
	Acks bool `json:"acks,omitempty"`
	// Marks: send FrameMarks saying how far each job's records have come
	// (start --wait, over frames). Such a caller counts what it has from
	// them, so it sends no acknowledgements and the host waits for none.
	Marks bool `json:"marks,omitempty"`
	// Resume, on a start sent again, is the last mark the caller got for
	// each job: what it covers is not sent again.
	Resume []Mark `json:"resume,omitempty"`
}

// Terminal says what the caller's terminal can show, so the host renders
// for it: the CLI fills it in when its output is a terminal.
type Terminal struct {
	// Color: warnings yellow, errors red, verbose and debug dimmed.
	Color bool `json:"color,omitempty"`
	// Width is the terminal's width in columns; tables fit in it.
	Width int `json:"width,omitempty"`
	// Progress: send progress records as FrameProgress (the CLI draws
	// them as bars) instead of leaving them out of text.
	Progress bool `json:"progress,omitempty"`
}

// Progress is a FrameProgress payload: one progress record of a job.
type Progress struct {
	JobID            uint64 `json:"jobId"`
	Job              string `json:"job"`
	ActivityID       int32  `json:"activityId"`
	ParentID         int32  `json:"parentId"`
	Activity         string `json:"activity"`
	Status           string `json:"status,omitempty"`
	CurrentOperation string `json:"currentOperation,omitempty"`
	Percent          int32  `json:"percent"`
	SecondsRemaining int32  `json:"secondsRemaining"`
	Completed        bool   `json:"completed,omitempty"`
}

// Result ends every reply.
type Result struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// MaxInput bounds a job's input (--input, --input-file, --input -). The
// input travels whole in the start request, is stored with the job (its
// payload file) and is handed to the runtime in one message, so each of
// those holds all of it in memory at once; 64 MiB keeps that affordable
// for the CLI, the host and the runtime alike. A job that needs more
// should be given a path to read instead.
const MaxInput = 64 << 20

// MaxRequest bounds a request frame the host reads: the largest input,
// base64-encoded in the JSON (4/3 of it), plus room for the rest (the
// caller's environment, the script, arguments). A larger request is
// refused from its header, before it is read.
const MaxRequest = MaxInput/3*4 + 32<<20

// MaxName bounds a job's name, in bytes of its UTF-8: a name is for
// people to type and read in a table, and every listing carries it.
const MaxName = 256

// Typed reports whether r starts a custom job type (or a stored
// definition) rather than a script. A type's name matches in any case, as
// PowerShell's -Type does: --type backgroundjob is a script.
func (r *StartRequest) Typed() bool {
	return (r.Type != "" && !strings.EqualFold(r.Type, BackgroundJob)) || r.DefinitionName != ""
}
