//go:build unix

package sdk

import (
	"os"

	"golang.org/x/sys/unix"
)

// logToFile makes f the process's standard error (descriptor 2), where the
// Go runtime writes a panic and libraries write what they do not log:
// into the plugin's log, which outlives the host, rather than into the
// pipe of a host that may be gone. The host writes go-plugin's copy of the
// plugin's standard error into that same log, so nothing is lost.
func logToFile(f *os.File) {
	_ = unix.Dup2(int(f.Fd()), 2)
}
