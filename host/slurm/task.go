package slurm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/task"
	"github.com/bgjob/bgjob/sdk"
)

// A Slurm job's directory, on the filesystem the host and the nodes share,
// is a task directory (package task) and Slurm's own files:
//
//	job.sh           the batch script sbatch runs
//	slurm.out        Slurm's own output for the batch script

// The task files, as package task has them.
type (
	Spec    = task.Spec
	Child   = task.Child
	Started = task.Started
	Ended   = task.Ended
)

// Paths in a job's directory.
var (
	SpecPath    = task.SpecPath
	PayloadPath = task.PayloadPath
	LogPath     = task.LogPath
	StartPath   = task.StartPath
	DonePath    = task.DonePath
	StopPath    = task.StopPath
	RequestStop = task.RequestStop
	ReadStarted = task.ReadStarted
	ReadEnded   = task.ReadEnded
)

func ScriptPath(dir string) string { return filepath.Join(dir, "job.sh") }
func OutputPath(dir string) string { return filepath.Join(dir, "slurm.out") }

// WriteJob writes a job's directory before it is submitted: its spec, its
// payload and the batch script, which runs `bgjobd slurm-task DIR` in every
// task. bgjobd is the host's own binary, so it too must be on the shared
// filesystem.
func WriteJob(dir string, spec *Spec, payload *sdk.Job, bgjobd string) error {
	if err := task.WriteJob(dir, spec, payload); err != nil {
		return err
	}
	script := "#!/bin/sh\n" +
		"# Written by bgjob: each task runs its child job's runtime on its node.\n" +
		"exec srun --kill-on-bad-exit=0 " + ShellQuote(bgjobd) + " slurm-task " + ShellQuote(dir) + "\n"
	return os.WriteFile(ScriptPath(dir), []byte(script), 0o700)
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	out := "'"
	for _, c := range s {
		if c == '\'' {
			out += `'\''`
		} else {
			out += string(c)
		}
	}
	return out + "'"
}

// RunTask is `bgjobd slurm-task DIR` on a node: it runs this task's child
// job (SLURM_PROCID says which) as package task does. Slurm's TERM (a time
// limit, scancel, a requeue) stops the job with the spec's grace and is
// recorded as Slurm's doing.
func RunTask(dir string, launcher launch.Launcher) error {
	n, err := strconv.Atoi(os.Getenv("SLURM_PROCID"))
	if err != nil {
		return fmt.Errorf("SLURM_PROCID is %q: slurm-task runs inside a Slurm job step (srun)", os.Getenv("SLURM_PROCID"))
	}
	node := os.Getenv("SLURMD_NODENAME")
	if node == "" {
		node, _ = os.Hostname()
	}
	// Slurm counts the times it requeued the job; a requeued job runs
	// again from the start.
	run, _ := strconv.Atoi(os.Getenv("SLURM_RESTART_COUNT"))
	return task.Run(dir, task.Options{Task: n, Node: node, Signalled: true, Run: max(run, 0),
		Shared: fmt.Sprintf(" (bgjob needs %s, bgjobd, its runtime catalog and the working directory on a filesystem the nodes share with its host)", dir)}, launcher)
}
