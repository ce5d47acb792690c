//go:build !unix

package main

import (
	"os"
	"os/exec"

	"github.com/bgjob/bgjob/host/api"
)

func detach(*exec.Cmd) {}

// execHost runs the host as a child where exec(2) does not exist.
func execHost(bin string, argv []string) error {
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

// processAlive reports whether pid is a process (where the OS lets a
// process be found only while it exists, as on Windows).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}

// terminate ends pid: there is no SIGTERM here, so it is killed. Its jobs'
// runtimes are processes of their own and keep running.
func terminate(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Kill()
}

// raise ends this process as the interrupt sig would have.
func raise(os.Signal) { os.Exit(api.ExitInterrupted) }
