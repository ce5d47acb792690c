package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
)

// The exit codes are a contract scripts rely on; this is where each kind of
// host error meets its number.
func TestExitCode(t *testing.T) {
	wrap := func(kind error) error { return fmt.Errorf("some words: %w", kind) }
	tests := []struct {
		err  error
		want int
	}{
		{nil, api.ExitOK},
		{wrap(host.ErrBadRequest), api.ExitUsage},
		{wrap(catalog.ErrBadConstraint), api.ExitUsage},
		{wrap(host.ErrNotFound), api.ExitNotFound},
		{wrap(host.ErrTimeout), api.ExitTimeout},
		{wrap(host.ErrNoRuntime), api.ExitRuntime},
		{wrap(host.ErrVerification), api.ExitRuntime},
		{wrap(host.ErrNotFinished), api.ExitConflict},
		{wrap(host.ErrHostRunning), api.ExitConflict},
		{wrap(host.ErrDamaged), api.ExitDamaged},
		{wrap(host.ErrDenied), api.ExitDenied},
		{badRequest("x"), api.ExitUsage},
		{&exitError{code: api.ExitJobFailed, err: errors.New("failed")}, api.ExitJobFailed},
		{errors.New("anything else"), api.ExitUnavailable},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
