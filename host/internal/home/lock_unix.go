//go:build !windows

package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// noFollow opens a file itself, never what a link in its place names.
const noFollow = unix.O_NOFOLLOW

// lockHome takes the home's lock file, host.lock, for as long as the host
// runs (the kernel drops it with the process, however it ends). It is what
// keeps a second host off the home: the job table's own lock is on a file
// that compaction and setting a damaged table aside replace, so a host
// waiting for it could get the lock of a file no longer in use, and both
// would serve. This file is never renamed, and it is taken before anything
// in the home is opened or moved. held says another process has it.
func lockHome(dir string) (f *os.File, held bool, err error) {
	path := filepath.Join(dir, "host.lock")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("cannot open the home's lock %s: %w", path, err)
	}
	f = os.NewFile(uintptr(fd), path)
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("cannot lock the home's lock %s: %w", path, err)
	}
	return f, false, nil
}
