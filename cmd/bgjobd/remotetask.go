package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/task"
)

// remoteTask is `bgjobd remote-task [-sha256 HASH] DIR`, what a job on the
// SSH location runs on its computer (see package task), and `bgjobd
// remote-task -follow OFFSET [-stop] DIR`, by which the host follows it
// over ssh.
func remoteTask(args []string) int {
	fs := flag.NewFlagSet("remote-task", flag.ContinueOnError)
	sum := fs.String("sha256", "", "refuse to run unless this binary has this SHA-256")
	follow := fs.Int64("follow", -1, "stream the task's records from this byte of its log, and its end")
	stop := fs.Bool("stop", false, "with -follow: ask the task to stop its job first")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bgjobd remote-task [-sha256 HASH] DIR | bgjobd remote-task -follow OFFSET [-stop] DIR")
		return 2
	}
	dir := fs.Arg(0)
	if *follow >= 0 {
		if err := task.Follow(dir, 0, *follow, *stop, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "bgjobd remote-task: %v\n", err)
			return 1
		}
		return 0
	}
	if *sum != "" {
		if err := checkSelf(*sum); err != nil {
			fmt.Fprintf(os.Stderr, "bgjobd remote-task: %v\n", err)
			return 1
		}
	}
	// The task outlives the connection that launched it: a session of its
	// own, out of reach of the hangup of the ssh session's.
	detach()
	home, err := os.UserHomeDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd remote-task: %v\n", err)
		return 1
	}
	run, err := os.MkdirTemp("", "bgjob-task")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd remote-task: %v\n", err)
		return 1
	}
	defer os.RemoveAll(run)
	node, _ := os.Hostname()
	// The runtime dies with this task: killed, it would leave the runtime
	// and its job running with nobody to follow or stop them (no host
	// reattaches to a task's runtime). What the runtime leaves, the
	// follower ends (task.Follow).
	l := launch.NewGoPlugin(launch.Options{RunDir: run, LogDir: run, NoSpares: true, EndWithLauncher: true})
	defer l.Close()
	if err := task.Run(dir, task.Options{Task: 0, Node: node, Home: home}, l); err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd remote-task: %v\n", err)
		return 1
	}
	return 0
}

// checkSelf makes sure this binary is the one the host copied: a copy cut
// off or changed since is refused.
func checkSelf(want string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	f, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has SHA-256 %s, not %s as copied by the host; remove it, and the host copies it again", exe, got, want)
	}
	return nil
}
