//go:build unix

package api

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Go's os/exec passes a child every descriptor that lacks FD_CLOEXEC, not
// only the ones it is given. Everything Go opens has the flag, but what a
// process inherits does not: a lock or a pipe end the caller's shell left
// open (`9>lock`, `7>&1`) would reach a host started from here, and from
// it every runtime and job, and be held for as long as they live.

// CloseOnExec marks every descriptor from 3 up close-on-exec, so that a
// process started from this one gets 0, 1, 2 and what it is given, and
// nothing this process inherited.
func CloseOnExec() error {
	if closeRangeCloexec() == nil {
		return nil
	}
	// Older kernels (before 5.11) and other systems: one at a time.
	return eachInherited(func(fd, flags int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
		return err
	})
}

// CloseInherited closes every descriptor from 3 up that this process
// inherited: the ones without FD_CLOEXEC, since everything Go opens
// (including the runtime's own, such as its poller) has it. A daemon calls
// it first thing, so it holds nothing of whoever started it. Where the
// descriptors cannot be listed, they are at least kept from its children.
func CloseInherited() error {
	err := eachInherited(func(fd, _ int) error { return unix.Close(fd) })
	if err != nil {
		if err2 := CloseOnExec(); err2 != nil {
			return errors.Join(err, err2)
		}
	}
	return nil
}

// eachInherited calls f for every open descriptor from 3 up that lacks
// FD_CLOEXEC, with its descriptor flags.
func eachInherited(f func(fd, flags int) error) error {
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return fmt.Errorf("cannot list this process's open files: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		// The directory's own descriptor is closed by now: EBADF.
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if err := f(fd, flags); err != nil {
			return fmt.Errorf("cannot close inherited file descriptor %d: %w", fd, err)
		}
	}
	return nil
}
