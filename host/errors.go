package host

import (
	"errors"
	"fmt"

	"github.com/bgjob/bgjob/host/catalog"
)

// Kinds of error the host returns; match them with errors.Is. The message
// of each error is for the user; the kind is for the caller's decisions
// (the server's exit codes, say).
var (
	// ErrBadRequest: the request itself is wrong (a missing working
	// directory, a bad constraint, conflicting options).
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound: no job matches a selector.
	ErrNotFound = errors.New("no job matches")
	// ErrNotFinished: the job must be finished for this (remove without
	// force).
	ErrNotFinished = errors.New("the job is not finished")
	// ErrTimeout: Wait's own timeout ran out.
	ErrTimeout = errors.New("timed out")
	// ErrNoRuntime: no installed runtime matches.
	ErrNoRuntime = catalog.ErrNoRuntime
	// ErrVerification: a runtime binary is missing or changed since it
	// was installed.
	ErrVerification = errors.New("the runtime binary failed verification")
	// ErrDamaged: a job's records on disk are damaged or missing.
	ErrDamaged = errors.New("the job's records are damaged")
	// ErrHostRunning: another host holds this home.
	ErrHostRunning = errors.New("another host runs on this home")
)

// Error is a host error: what to tell the user, and its kind.
type Error struct {
	Kind error
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// errorf returns an error of kind with a formatted message (%w works).
func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// withKind gives err a kind, unless it has one of the host's already.
func withKind(kind error, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return &Error{Kind: kind, Err: err}
}
