package launch

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// killStray kills process pid if it is still the process the host
// recorded: the one that began at start (see process.StartTime). A pid
// alone names whatever process has the number now; a pid is never trusted
// without the start time the host recorded itself, and never from a file
// someone else could write. It reports whether it signalled the process,
// which is held by a pidfd while it is checked, so that it cannot be
// replaced between the check and the kill.
func killStray(pid int, start uint64) bool {
	if pid <= 1 || start == 0 {
		return false
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if !errors.Is(err, unix.ENOSYS) {
			return false // gone, or not ours to signal
		}
		fd = -1
	} else {
		defer unix.Close(fd)
	}
	if !ours(pid, start) {
		return false
	}
	if fd >= 0 {
		return unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil
	}
	return syscall.Kill(pid, syscall.SIGKILL) == nil
}
