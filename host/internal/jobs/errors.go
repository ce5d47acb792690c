package jobs

import (
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
)

// Caller is who asks for something (see identity.Caller): each caller sees
// and touches only the jobs it owns; root sees all.
type Caller = identity.Caller

// The kinds of error the table returns are the host's (see errkind).
var (
	ErrBadRequest  = errkind.ErrBadRequest
	ErrNotFound    = errkind.ErrNotFound
	ErrNotFinished = errkind.ErrNotFinished
	ErrTimeout     = errkind.ErrTimeout
	ErrDenied      = errkind.ErrDenied
)

func errorf(kind error, format string, args ...any) error {
	return errkind.Errorf(kind, format, args...)
}
