package sdk

import (
	"strings"
	"unicode/utf8"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
)

// The protocol's messages are the SDK's types: a plugin builds records and
// reads jobs without a second set of structs to keep in step.
type (
	Job               = pb.Job
	Record            = pb.Record
	Stream            = pb.Stream
	ErrorDetail       = pb.ErrorDetail
	ProgressDetail    = pb.ProgressDetail
	InformationDetail = pb.InformationDetail
	Batch             = pb.Batch
	Done              = pb.Done
	State             = pb.State
)

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
