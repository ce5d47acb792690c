//go:build unix

package main

import "syscall"

// umask is this process's file mode creation mask, which a job starts with.
func umask() *uint32 {
	m := syscall.Umask(0)
	syscall.Umask(m)
	u := uint32(m)
	return &u
}
