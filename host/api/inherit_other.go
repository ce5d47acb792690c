//go:build !unix

package api

// CloseOnExec has nothing to do where a child gets only the handles it is
// given explicitly (Go's os/exec on Windows).
func CloseOnExec() error { return nil }

// CloseInherited: see CloseOnExec.
func CloseInherited() error { return nil }
