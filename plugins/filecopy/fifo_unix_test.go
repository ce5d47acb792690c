//go:build unix

package filecopy_test

import "syscall"

// mkfifo makes a named pipe, a thing the copy must skip.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }
