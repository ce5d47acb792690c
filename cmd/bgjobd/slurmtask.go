package main

import (
	"fmt"
	"os"

	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/slurm"
)

// slurmTask is `bgjobd slurm-task DIR`, what a job on the Slurm location
// runs in each task on its node (see package slurm). The runtime's sockets
// go in a directory of the node's own: a unix socket on a network
// filesystem does not work, and its path must stay short.
func slurmTask(dir string) int {
	run, err := os.MkdirTemp("", "bgjob-task")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd slurm-task: %v\n", err)
		return 1
	}
	defer os.RemoveAll(run)
	// The runtime dies with this task, as with a remote task (see
	// remoteTask); the rest of the step is Slurm's to end.
	l := launch.NewGoPlugin(launch.Options{RunDir: run, LogDir: run, NoSpares: true, EndWithLauncher: true})
	defer l.Close()
	if err := slurm.RunTask(dir, l); err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd slurm-task: %v\n", err)
		return 1
	}
	return 0
}
