package api

import (
	"errors"
	"fmt"
)

// Exit codes of the bgjob CLI. They are part of the contract: scripts rely
// on them, and `bgjob help` and the README list them.
const (
	ExitOK          = 0  // success
	ExitJobFailed   = 1  // receive: a job Failed; start --wait: it failed without an exit status of its own
	ExitUsage       = 2  // bad flags or arguments; bad input (workdir, file, constraint)
	ExitNotFound    = 3  // no job matches a selector
	ExitTimeout     = 4  // wait --timeout ran out
	ExitRuntime     = 5  // no runtime matches, or a runtime binary fails verification
	ExitConflict    = 6  // the job is not finished (remove of a job named exactly, without --force; restart); a host already runs
	ExitUnavailable = 7  // the host cannot be reached or started, or failed internally
	ExitDamaged     = 8  // a job's records on disk are damaged or missing
	ExitDenied      = 9  // --credential: the password was not accepted, or cannot be checked
	ExitLocation    = 10 // --location: the location is not there, cannot be reached, or refused the job
	// ExitBrokenPipe is what a shell reports for a program killed by
	// SIGPIPE: the reader of our output (| head) went away.
	ExitBrokenPipe = 141
	// ExitInterrupted: Ctrl-C (128+SIGINT), as a shell reports.
	ExitInterrupted = 130
	// ExitJobStopped: start --wait's job was stopped (128+SIGTERM, what a
	// stop sends).
	ExitJobStopped = 143
)

// ExitCodes describes each code for help texts.
var ExitCodes = []struct {
	Code int
	Text string
}{
	{ExitOK, "success"},
	{ExitJobFailed, "receive: a received job Failed (its reason is printed); start --wait: the job failed without an exit status of its own. Otherwise start --wait exits with the job's own exit status"},
	{ExitUsage, "usage error, or bad input (workdir, file, version constraint, flags)"},
	{ExitNotFound, "no job matches"},
	{ExitTimeout, "wait --timeout ran out before the jobs finished"},
	{ExitRuntime, "no installed runtime (or job type) matches, a runtime binary failed verification, or runtime install refused a binary"},
	{ExitConflict, "the job is not finished (remove of a job named by id or exact name, without --force; restart), or a host already runs on this home"},
	{ExitUnavailable, "the host could not be reached or started, or failed; or start --wait could not write the job's output (a full disk): a job still running is stopped and removed"},
	{ExitDamaged, "a job's records on disk are damaged (a record that does not match its checksum, say) or missing; the message names the log file and the byte, and what came before was printed"},
	{ExitDenied, "start --credential or restart: the password was not accepted, or could not be checked; queue: only root changes the system host's queue"},
	{ExitLocation, "start --location: the location (Slurm, ssh) is not installed, cannot be reached, or refused the job (Slurm's own message is printed)"},
	{ExitInterrupted, "interrupted (Ctrl-C): start --wait stopped and removed its job; receive --wait left the jobs running"},
	{ExitBrokenPipe, "the reader of the output went away (bgjob receive 1 | head), as for a program killed by SIGPIPE; start --wait then stops and removes its job"},
	{ExitJobStopped, "start --wait: the job was stopped"},
}

// Error is an error with the exit code the CLI should end with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message (%w works).
func Errorf(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// WithCode wraps err with an exit code, keeping a code it already has.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: code, Err: err}
}

// CodeOf returns the exit code err carries, or ExitUnavailable.
func CodeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitUnavailable
}
