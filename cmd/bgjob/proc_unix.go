//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/bgjob/bgjob/host/api"
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

// processAlive reports whether pid is a process that has not exited (a
// zombie has). One of another user's counts: it exists.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// pid (comm) S ...: the state follows the last parenthesis.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	return true
}

// terminate asks pid to end (SIGTERM), as a service manager would.
func terminate(pid int) error {
	return syscall.Kill(pid, syscall.SIGTERM)
}

// raise ends this process by sig, as if nothing had caught it: the caller
// has stopped catching it (signal.Stop), so its default action applies.
func raise(sig os.Signal) {
	if s, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), s)
	}
	os.Exit(api.ExitInterrupted) // not reached for SIGINT and SIGTERM
}
