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

// nullStdin gives the process /dev/null as its standard input when it
// came with a regular file there: a host runs a runtime from the binary it
// checked, passed as the runtime's standard input (the host's
// catalog.Command), and the runtime reads nothing from it.
func nullStdin() {
	var st unix.Stat_t
	if unix.Fstat(0, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	if f, err := os.Open(os.DevNull); err == nil {
		_ = unix.Dup2(int(f.Fd()), 0)
		f.Close()
	}
}

// pipeClosed reports whether fd is a pipe whose reading end is closed: the
// host that started the process, reading its standard output (go-plugin's
// handshake), is gone.
func pipeClosed(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return false
	}
	p := []unix.PollFd{{Fd: int32(fd)}}
	n, err := unix.Poll(p, 0)
	return err == nil && n > 0 && p[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
}
