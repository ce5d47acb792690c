package server

import (
	"errors"
	"fmt"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
)

// exitError is an error the server makes itself, with its exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &exitError{code: api.ExitUsage, err: fmt.Errorf(format, args...)}
}

func errUnavailable(err error) error {
	return &exitError{code: api.ExitUnavailable, err: err}
}

// exitCode is the CLI's exit code for err: the one place the host's kinds
// of error become the numbers scripts rely on.
func exitCode(err error) int {
	var ee *exitError
	var quiet exitCodeOnly
	switch {
	case err == nil:
		return api.ExitOK
	case errors.As(err, &quiet):
		return int(quiet)
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, host.ErrBadRequest), errors.Is(err, catalog.ErrBadConstraint):
		return api.ExitUsage
	case errors.Is(err, host.ErrNotFound):
		return api.ExitNotFound
	case errors.Is(err, host.ErrTimeout):
		return api.ExitTimeout
	case errors.Is(err, host.ErrNoRuntime), errors.Is(err, host.ErrVerification):
		return api.ExitRuntime
	case errors.Is(err, host.ErrNotFinished), errors.Is(err, host.ErrHostRunning):
		return api.ExitConflict
	case errors.Is(err, host.ErrDamaged):
		return api.ExitDamaged
	case errors.Is(err, host.ErrDenied):
		return api.ExitDenied
	case errors.Is(err, host.ErrNoLocation):
		return api.ExitLocation
	}
	return api.ExitUnavailable
}

// ExitCode is exitCode for the daemon's own errors (opening the host).
func ExitCode(err error) int { return exitCode(err) }

// exitCodeOnly ends a call with an exit code and no message: what went
// wrong was printed already (a failed job's reason, on stderr).
type exitCodeOnly int

func (e exitCodeOnly) Error() string { return "" }
