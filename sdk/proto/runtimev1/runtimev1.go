// Package runtimev1 is protocol 1 of the bgjob plugin protocol, the legacy
// line: Go's net/rpc (gob) over go-plugin, pull-based, text only. A plugin
// serves its methods under the name "Plugin" (go-plugin's name for a
// dispensed net/rpc plugin):
//
//	Plugin.Describe(Empty, *Description)
//	Plugin.Start(Job, *Empty)          runs the job, once; a second Start is a no-op
//	Plugin.Next(NextArgs, *NextReply)  a long poll for the job's records
//	Plugin.Stop(StopArgs, *Empty)      terminate the job's processes, kill after Grace
//
// Next returns the records numbered after AfterSeq, waiting up to WaitMillis
// for some, and AfterSeq is also the acknowledgement: every record up to it
// is persisted by the host, and the plugin may drop them. A host that comes
// back after a crash simply asks again after the last record it persisted.
//
// Records carry four streams only, each a line of text, as an older
// runtime's would.
package runtimev1

// Method names, as a net/rpc client calls them.
const (
	MethodDescribe = "Plugin.Describe"
	MethodStart    = "Plugin.Start"
	MethodNext     = "Plugin.Next"
	MethodStop     = "Plugin.Stop"
)

// Empty is the argument or reply of a call that has none.
type Empty struct{}

// Description says who the plugin is.
type Description struct {
	Name, Version, OS, Arch string
	Protocols               []int
	Pid                     int
	InstanceID              string
}

// Job is what a job runs.
type Job struct {
	ID         uint64
	InstanceID string
	Name       string
	Type       string
	Script     string
	Init       string
	Args       []string
	Input      []byte
	Workdir    string
	Env        []string
	Command    string
	Umask      *uint32
	// MergeError: the job's standard error is output (runtimev2's
	// Job.merge_error). gob leaves it out for a runtime that predates it.
	MergeError bool
}

// The four streams of protocol 1.
const (
	Output  = 1
	Error   = 2
	Warning = 3
	Verbose = 4
)

// Record is one line of one stream.
type Record struct {
	Seq          uint64
	TimeUnixNano int64
	Stream       int
	Text         string
	// Partial says Text is not followed by a newline: a piece of a line
	// longer than a record holds, or the last bytes a job wrote without
	// one. Message says Text is one record's message (write-output "a
	// b", which may hold newlines), not a line of text. A runtime older
	// than these sends neither (gob leaves out a field the other side
	// lacks): its text is taken for whole lines, as before.
	Partial, Message bool
}

// NextArgs asks for the job's records after AfterSeq, at most Max of them.
// AckDone says the host has also persisted the job's end: the plugin may
// forget the job.
type NextArgs struct {
	JobID      uint64
	AfterSeq   uint64
	Max        int
	WaitMillis int
	AckDone    bool
}

// NextReply is the next records. LastSeq is the last sequence number they
// cover (records of streams protocol 1 does not carry take numbers too).
// Done is set once the job has ended and every record is in a reply.
type NextReply struct {
	Records  []Record
	LastSeq  uint64
	Done     bool
	State    int // 1 Completed, 2 Failed, 3 Stopped
	Reason   string
	ExitCode int
	// EndedUnixNano is when the job ended, by the runtime's clock (0 from
	// a runtime older than it: the host takes the time it heard of the
	// end). gob leaves out a field the other side lacks, so neither side
	// needs the other to have it.
	EndedUnixNano int64
}

// Job end states.
const (
	Completed = 1
	Failed    = 2
	Stopped   = 3
)

// StopArgs stops a job.
type StopArgs struct {
	JobID       uint64
	GraceMillis int64
}
