package shell

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is what a command's output pipe is grown to. Linux's default of
// 64 KiB makes a fast writer and the runtime take turns at every 64 KiB; a
// deeper pipe lets the command run on while the runtime hands what it read
// to the host. (1 MiB is what an unprivileged process may ask for by
// default.)
const pipeSize = 1 << 20

// growPipe deepens the pipe w is the write end of, if the system allows; a
// pipe left at its default still works, only slower. The raw descriptor is
// reached without File.Fd, which would make the file blocking.
func growPipe(w *os.File) {
	rc, err := w.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
	})
}
