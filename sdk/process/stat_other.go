//go:build unix && !linux

package process

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// Without /proc, zombies cannot be told from the living: a process (or a
// group) that can be signalled counts as alive.

// State is not known here; it reports 'R' for any process that exists.
func State(pid int) (byte, bool) {
	if Alive(pid) {
		return 'R', true
	}
	return 0, false
}

// Alive reports whether pid can be signalled.
func Alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// GroupAlive reports whether group pgid can be signalled.
func GroupAlive(pgid int) bool { return Alive(-pgid) }

// KillSession cannot find a session's members without /proc.
func KillSession(int) int { return 0 }

// SuspendSession cannot find a session's members without /proc.
func SuspendSession(int) (int, error) { return 0, errors.ErrUnsupported }

// ContinueSession cannot find a session's members without /proc.
func ContinueSession(int) (int, error) { return 0, errors.ErrUnsupported }

// StartTime is not known without /proc.
func StartTime(int) (uint64, bool) { return 0, false }

// SignalSession: cannot find a session's members without /proc.
func SignalSession(int, syscall.Signal) (int, error) { return 0, errors.ErrUnsupported }
