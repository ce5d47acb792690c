package api

import (
	"math"

	"golang.org/x/sys/unix"
)

// fdDir lists this process's open descriptors.
const fdDir = "/proc/self/fd"

// closeRangeCloexec marks every descriptor from 3 up close-on-exec in one
// call (Linux 5.11 and later).
func closeRangeCloexec() error {
	return unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
}
