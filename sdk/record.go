package sdk

import (
	"strings"
	"unicode/utf8"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
)

// The protocol's messages are the SDK's types: a plugin builds records and
// reads jobs without a second set of structs to keep in step. The fields of
// those a plugin reads or fills are listed below, as `go doc` shows no
// fields of an alias (sdk/proto/runtimev2/runtime.proto says the same).

// Job is one job as Run gets it. Its fields:
//
//   - Id, InstanceId: the job's id in the host's table (Get-Job's Id), and
//     the id of this run of it (a restarted job gets a new one).
//   - Name: the job's name (--name, the definition's name, or Job<Id>).
//   - Type: empty or BackgroundJob for a script in a runtime, else the
//     custom type's name (the SDK hands the job to the Run of the type it
//     names).
//   - Script, Init: the script to run, and the script run before it in the
//     same session (--init); a runtime's.
//   - Args: the script's arguments ("$1"..., --arg), or a custom type's
//     words (bgjob start --type T -- WORDS) or its definition's Args.
//   - Input: what the job reads on its standard input (--input), at most
//     64 MiB.
//   - Workdir: the job's working directory, absolute (--workdir, the
//     definition's, or where bgjob start ran). The one rule: in a process
//     that runs one job at a time, which is every job but a thread job
//     (bgjob start --thread, and a batch's children unless --processes), the SDK makes Workdir the process's working
//     directory before it calls Run, and sets Umask; a relative path in Run
//     is then relative to Workdir. sdktest.Protocol does the same. A
//     process that runs several jobs at once (a reusable runtime's thread
//     jobs, EnvShared) cannot be in each job's directory: there the SDK
//     changes neither, and the runtime gives Workdir and Umask to what it
//     starts itself (exec.Cmd.Dir), as the shell runtime does.
//   - Env: the job's whole environment as KEY=VALUE: the caller's (a login
//     environment for a job run as another user), the definition's, --env,
//     and last the SDK's $BGJOB_JOB_ID, $BGJOB_JOB_NAME,
//     $BGJOB_RUNTIME_VERSION (the plugin's version) and $BGJOB_RUNTIME_ARCH
//     (its GOARCH). It is not the plugin process's environment: give it to
//     what the job starts (exec.Cmd.Env).
//   - Command: the command line as the user wrote it, or as the definition
//     says it, as the job table shows it.
//   - Umask: the file mode creation mask the job starts with (the
//     submitter's; nil: the process's own); see Workdir for who applies it.
//     GetUmask returns it or 0.
//   - Payload: what the type's Resolve put in the definition's Payload, as
//     it put it (opaque to the host); empty for a job started from
//     arguments.
//   - MergeError: the user asked for the job's standard error as output
//     (bgjob start --merge-error, like 2>&1). The SDK's Emitter honours it
//     (Writer(Error) is then Writer(Output)), so Run need do nothing.
//   - ScriptRaw, InitRaw, ArgsRaw, WorkdirRaw, EnvRaw: the protocol's
//     carriers of bytes that are not UTF-8; the SDK has already put them
//     back into the string fields (see EncodeJob).
type Job = pb.Job

// MaxRecord bounds one record as it travels and is stored (64 MiB): the
// host refuses a larger one, and Emit returns an error for it. Text written
// through a Writer goes in chunks of 64 KiB, whatever its length.
const MaxRecord = 64 << 20

// Record is one entry of one of the job's seven streams; build it with
// NewOutput, NewError, NewMessage, NewProgress or NewInformation. Seq and
// TimeUnixNano are set by the Emitter; Chunk and Count carry text written
// to a Writer (Count lines of it).
type Record = pb.Record

// SeqEnd is the last sequence number r stands for: a chunk of text takes
// one number a line, from its Seq. A host that has passed r on is past
// SeqEnd(r), which is how a caller says where it stands.
func SeqEnd(r *Record) uint64 { return r.Seq + recordCount(r) - 1 }

// Stream is one of a job's seven streams: Output, Error, Progress,
// Verbose, Debug, Warning, Information.
type Stream = pb.Stream

// ErrorDetail is what an Error record says beyond its message, as
// PowerShell's ErrorRecord (bgjob receive -o json shows each field):
//
//   - Category: the kind of error, one of PowerShell's ErrorCategory names
//     (ReadError, WriteError, InvalidArgument, ObjectNotFound,
//     PermissionDenied, InvalidType, NotSpecified, ...).
//   - Target: what the error is about: a path, a host, an argument.
//   - ErrorId: a stable identifier of the error for scripts to match on
//     (FullyQualifiedErrorId), e.g. "CopyFailed".
//   - RecommendedAction: what the user can do about it, in words.
type ErrorDetail = pb.ErrorDetail

// ProgressDetail is a Progress record, as PowerShell's ProgressRecord.
// bgjob receive --wait and start --wait draw each activity as a live bar,
// nested under its parent, until a record with Completed clears it:
//
//   - ActivityId: the activity this record updates (0 or more); records
//     with the same id update one bar.
//   - ParentId: the activity this one is part of, drawn above it; -1 for
//     none (0, the zero value, is drawn as none too).
//   - Activity: what is being done ("Copy /src to /dst").
//   - Status: how far it is ("3 of 10 files").
//   - CurrentOperation: the step under way (a file name).
//   - Percent: percent complete, 0 to 100; -1 for unknown (the zero value
//     shows as 0%).
//   - SecondsRemaining: the time left in seconds; -1 for unknown (0 shows as
//     "0s left").
//   - Completed: the activity has ended; its bar is cleared.
type ProgressDetail = pb.ProgressDetail

// InformationDetail is an Information record, as PowerShell's
// InformationRecord: Tags to filter on, the Source (a command or script
// name), and when (TimeUnixNano), by whom (User), where (Computer) and by
// which process (Pid) it was made; zero values are not shown.
type InformationDetail = pb.InformationDetail

// Batch and Done are protocol messages the SDK sends for you: records in
// batches, and how the job ended.
type (
	Batch = pb.Batch
	Done  = pb.Done
)

// State is how a job ended: Completed, Failed or Stopped.
type State = pb.State

// The seven streams of a job.
const (
	Output      = pb.Stream_STREAM_OUTPUT
	Error       = pb.Stream_STREAM_ERROR
	Progress    = pb.Stream_STREAM_PROGRESS
	Verbose     = pb.Stream_STREAM_VERBOSE
	Debug       = pb.Stream_STREAM_DEBUG
	Warning     = pb.Stream_STREAM_WARNING
	Information = pb.Stream_STREAM_INFORMATION
)

// How a job ended.
const (
	Completed = pb.State_STATE_COMPLETED
	Failed    = pb.State_STATE_FAILED
	Stopped   = pb.State_STATE_STOPPED
)

// StreamNames maps each stream to the name used in JSON records and flags.
var StreamNames = map[Stream]string{
	Output:      "output",
	Error:       "error",
	Progress:    "progress",
	Verbose:     "verbose",
	Debug:       "debug",
	Warning:     "warning",
	Information: "information",
}

// NewOutput returns an Output record holding value; typeName is empty for
// plain text, or names the type of a typed object.
func NewOutput(value, typeName string) *Record {
	return &Record{Stream: Output, Message: value, TypeName: typeName}
}

// NewMessage returns a Verbose, Debug or Warning record.
func NewMessage(s Stream, msg string) *Record {
	return &Record{Stream: s, Message: msg}
}

// NewError returns an Error record.
func NewError(msg string, d *ErrorDetail) *Record {
	return &Record{Stream: Error, Message: msg, Error: d}
}

// NewProgress returns a Progress record.
func NewProgress(d *ProgressDetail) *Record {
	return &Record{Stream: Progress, Progress: d}
}

// NewInformation returns an Information record.
func NewInformation(msg string, d *InformationDetail) *Record {
	return &Record{Stream: Information, Message: msg, Information: d}
}

// Result is how a job ended, as a runtime reports it.
type Result struct {
	State    State
	Reason   string
	ExitCode int
}

// Success is the result of a job that completed.
func Success() Result { return Result{State: Completed} }

// Failure is the result of a job that failed with the given exit code; reason
// says why in words a user can act on.
func Failure(code int, reason string) Result {
	return Result{State: Failed, ExitCode: code, Reason: reason}
}

// textFields calls f with a pointer to each text field of r, so a check or
// a fix covers every one.
func textFields(r *Record, f func(*string)) {
	f(&r.Message)
	f(&r.TypeName)
	if e := r.Error; e != nil {
		f(&e.Category)
		f(&e.Target)
		f(&e.ErrorId)
		f(&e.RecommendedAction)
	}
	if p := r.Progress; p != nil {
		f(&p.Activity)
		f(&p.Status)
		f(&p.CurrentOperation)
	}
	if in := r.Information; in != nil {
		for i := range in.Tags {
			f(&in.Tags[i])
		}
		f(&in.Source)
		f(&in.User)
		f(&in.Computer)
	}
}

func validUTF8(r *Record) bool {
	ok := true
	textFields(r, func(s *string) { ok = ok && utf8.ValidString(*s) })
	return ok
}

// fixUTF8 replaces each invalid byte sequence in r's text with U+FFFD.
func fixUTF8(r *Record) {
	textFields(r, func(s *string) { *s = strings.ToValidUTF8(*s, "\uFFFD") })
}
