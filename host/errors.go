package host

import (
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/errkind"
)

// Kinds of error the host returns; match them with errors.Is. The message
// of each error is for the user; the kind is for the caller's decisions
// (the server's exit codes, say).
var (
	// ErrBadRequest: the request itself is wrong (a missing working
	// directory, a bad constraint, conflicting options).
	ErrBadRequest = errkind.ErrBadRequest
	// ErrNotFound: no job matches a selector.
	ErrNotFound = errkind.ErrNotFound
	// ErrNotFinished: the job must be finished for this (remove without
	// force).
	ErrNotFinished = errkind.ErrNotFinished
	// ErrTimeout: Wait's own timeout ran out.
	ErrTimeout = errkind.ErrTimeout
	// ErrNoRuntime: no installed runtime matches.
	ErrNoRuntime = catalog.ErrNoRuntime
	// ErrVerification: a runtime binary is missing or changed since it
	// was installed.
	ErrVerification = errkind.ErrVerification
	// ErrDamaged: a job's records on disk are damaged or missing.
	ErrDamaged = errkind.ErrDamaged
	// ErrDenied: the caller may not do this: run a job as the user it
	// names (a wrong password, say), or change the system host's queue.
	ErrDenied = errkind.ErrDenied
	// ErrHostRunning: another host holds this home.
	ErrHostRunning = errkind.ErrHostRunning
)

// Error is a host error: what to tell the user, and its kind. It is
// errkind's, so that the host's internal packages return the same errors.
type Error = errkind.Error

// errorf returns an error of kind with a formatted message (%w works).
func errorf(kind error, format string, args ...any) error {
	return errkind.Errorf(kind, format, args...)
}

// NotFinishedError is Remove's ErrNotFinished: the unfinished jobs it left,
// and whether the caller named one of them exactly (an id, an instance id,
// a name without wildcards), which asked for that job to go. Jobs only a
// wildcard or a state picked were left as `remove '*'` leaves what still
// runs.
type NotFinishedError struct {
	Left  []*api.Job
	Named bool
	err   error
}

func (e *NotFinishedError) Error() string { return e.err.Error() }
func (e *NotFinishedError) Unwrap() error { return e.err }
