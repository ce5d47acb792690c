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
