package process

import (
	"errors"
	"os"
	"syscall"
)

// State reports 'R' for a process that can be found.
func State(pid int) (byte, bool) {
	if Alive(pid) {
		return 'R', true
	}
	return 0, false
}

// Alive reports whether a process with this pid can be found.
func Alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// GroupAlive: Windows has no process groups of this kind.
func GroupAlive(int) bool { return false }

// KillSession: Windows has no sessions of this kind (a job object would be
// the equivalent).
func KillSession(int) int { return 0 }

// SuspendSession: Windows has no sessions of this kind.
func SuspendSession(int) (int, error) { return 0, errors.ErrUnsupported }

// ContinueSession: Windows has no sessions of this kind.
func ContinueSession(int) (int, error) { return 0, errors.ErrUnsupported }

// StartTime is not known here.
func StartTime(int) (uint64, bool) { return 0, false }

// SignalSession: Windows has no sessions of this kind.
func SignalSession(int, syscall.Signal) (int, error) { return 0, errors.ErrUnsupported }
