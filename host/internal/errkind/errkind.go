// Package errkind holds the kinds of error the host's internal packages
// share with package host, which re-exports them (host.ErrBadRequest is
// errkind.ErrBadRequest). It exists because those packages must not import
// host, yet the socket server decides its exit codes by the kind of what
// they return.
package errkind

import (
	"errors"
	"fmt"
)

// Kinds; package host documents them for its callers.
var (
	ErrBadRequest = errors.New("bad request")
	ErrNotFound   = errors.New("no job matches")
	ErrDenied     = errors.New("not allowed")

	ErrNotFinished  = errors.New("the job is not finished")
	ErrTimeout      = errors.New("timed out")
	ErrVerification = errors.New("the runtime binary failed verification")
	ErrDamaged      = errors.New("the job's records are damaged")
	ErrHostRunning  = errors.New("another host runs on this home")
	ErrNoLocation   = errors.New("the location cannot take the job")
)

// Error is a host error: what to tell the user, and its kind.
type Error struct {
	Kind error
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// Errorf returns an error of kind with a formatted message (%w works).
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// WithKind gives err a kind, unless it has one already.
func WithKind(kind error, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return &Error{Kind: kind, Err: err}
}
