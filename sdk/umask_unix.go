//go:build unix

package sdk

import "syscall"

// setUmask sets the process's file mode creation mask: a job starts with
// the mask its submitter had.
func setUmask(m uint32) { syscall.Umask(int(m)) }

// initialUmask is the mask the process started with, which a job that
// brings none gets (so a job that changed it leaves nothing to the next
// job in a reused process). Read at start, before anything runs.
var initialUmask = func() uint32 {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return uint32(m)
}()
