package durable

import (
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// slow is the sync time past which syncs stop keeping the processor (a
// variable for the tests), and ordinaryFor how long they then go through
// the ordinary system call.
var slow = 2 * time.Millisecond

const ordinaryFor = time.Minute

// rawUntil is the time (UnixNano) before which syncs are ordinary system
// calls; 0 or past: raw.
var rawUntil atomic.Int64

// Data makes f's data durable, and the metadata needed to read it back
// (its size), as fdatasync(2): not its times.
func Data(f *os.File) error { return syncFD(f, unix.SYS_FDATASYNC) }

// File makes f durable, data and metadata, as fsync(2).
func File(f *os.File) error { return syncFD(f, unix.SYS_FSYNC) }

func syncFD(f *os.File, call uintptr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var e unix.Errno
	// Control holds the descriptor for the call: a Close meanwhile (a
	// journal's compaction) closes it only after, as for f.Sync.
	cerr := rc.Control(func(fd uintptr) {
		start := time.Now()
		raw := start.UnixNano() >= rawUntil.Load()
		for {
			if raw {
				_, _, e = unix.RawSyscall(call, fd, 0, 0)
			} else {
				_, _, e = unix.Syscall(call, fd, 0, 0)
			}
			if e != unix.EINTR {
				break
			}
		}
		if time.Since(start) > slow {
			rawUntil.Store(time.Now().Add(ordinaryFor).UnixNano())
		}
	})
	switch {
	case cerr != nil:
		// The one way Control fails on a file: it is closed. Said as
		// f.Sync says it.
		return &os.PathError{Op: syncName(call), Path: f.Name(), Err: os.ErrClosed}
	case e != 0:
		return &os.PathError{Op: syncName(call), Path: f.Name(), Err: e}
	}
	return nil
}

func syncName(call uintptr) string {
	if call == unix.SYS_FDATASYNC {
		return "fdatasync"
	}
	return "fsync"
}
