//go:build unix

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// detach puts the host in a session of its own, so it outlives the
// terminal that happened to start it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// execHost replaces this process with the host, so signals reach it.
func execHost(bin string, argv []string) error {
	return syscall.Exec(bin, argv, os.Environ())
}
