// A call lasts milliseconds: the CLI does not follow the cgroup's
// processor limit (Go's containermaxprocs) nor start the goroutine that
// would check it again every second (updatemaxprocs). The runtime still
// reads /proc/self/cgroup and mountinfo once as it starts, whatever these
// say (Go 1.26's schedinit); what they save is that goroutine and the
// files kept open. Paired on 2 cores, as make builds it: --version x0.93-
// 0.99 with them; small, and free.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command bgjob is PowerShell's background jobs for any shell: start a
// script in a versioned runtime, list jobs, receive their streams, wait for,
// stop and remove them.
//
// The CLI is kept light on purpose: it links neither gRPC, go-plugin nor
// net/rpc (a test guards this), because their package initialisation would
// cost several milliseconds on every call. It talks to the host daemon,
// bgjobd, over a unix socket with small framed messages and starts it when
// none is running.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootFor(args)
	// What cobra prints (help, version, completion scripts) goes out in
	// one write at the end: `bgjob start --help | grep -q X` must not die
	// of SIGPIPE, with grep gone after the line it wanted, midway through
	// help written a line at a time.
	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	defer out.Flush()
	root.SetOut(out)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var silent *silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	fmt.Fprintf(os.Stderr, "bgjob: %v\n", err)
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code
	}
	// Errors cobra makes itself are about flags and arguments.
	return api.ExitUsage
}

// silentError carries an exit code whose message has been printed already.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCodesHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes:\n")
	for _, c := range api.ExitCodes {
		fmt.Fprintf(&b, "  %d  %s\n", c.Code, c.Text)
	}
	return b.String()
}

// version is set by the build: -ldflags "-X main.version=...".
var version string

// versionString is what --version prints after "bgjob ": the version the
// build set, else the module's version when built with go install, else
// "dev".
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// envVars are the environment variables bgjob and its host read, for the
// help text and the man pages.
var envVars = []struct{ Name, Text string }{
	{"BGJOB_HOME", "the host's home: socket, job table, records, host.pid and host.log (default $XDG_STATE_HOME/bgjob or ~/.local/state/bgjob)"},
	{"BGJOB_RUNTIMES", "the runtime catalog (default $XDG_DATA_HOME/bgjob/runtimes or ~/.local/share/bgjob/runtimes)"},
	{"BGJOB_DEFINITIONS", "the stored job definitions (default $XDG_CONFIG_HOME/bgjob/jobs or ~/.config/bgjob/jobs)"},
	{"BGJOB_SOCKET", "use the system host on this socket, as --system does for " + api.SystemSocket},
	{"BGJOB_MAX_RUNNING", "the default group's limit of jobs running at once (default 16), until 'bgjob queue --max-running' sets one; more wait as NotStarted (read when a host starts)"},
	{"BGJOB_HOSTD", "the host daemon to start (default bgjobd beside bgjob, else on PATH)"},
	{"BGJOB_IDLE_EXIT", "how long a host started for you waits with nothing to do before it exits (default 10m; 0 never)"},
	{"BGJOB_SLURM_DIR", "where jobs on --location slurm keep their files, shared with the cluster's nodes (default $BGJOB_HOME/slurm)"},
	{"BGJOB_SLURM_BIN", "the directory of sbatch, squeue, scontrol, scancel and sinfo (default: on PATH)"},
	{"BGJOB_SSH", "the ssh client jobs on --location ssh run through (default ssh on PATH)"},
	{"GOMAXPROCS", "the processors the host's own goroutines run on (default half of them, at least one)"},
	{"NO_COLOR", "when set, bgjob does not colour what it prints on a terminal"},
}

func envHelp() string {
	var b strings.Builder
	b.WriteString("Environment:\n")
	for _, e := range envVars {
		// Wrapped at 80 columns, under the text's first column.
		line := fmt.Sprintf("  %-18s", e.Name)
		for _, w := range strings.Fields(e.Text) {
			if len(line)+1+len(w) > 80 && len(line) > 21 {
				b.WriteString(line + "\n")
				line = strings.Repeat(" ", 20)
			}
			line += " " + w
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// commands are bgjob's subcommands. Each is built only when a call needs
// it: building all of them, with their flags, help texts and completions,
// is a sixth of the CLI's own start. The ones marked whole work on the
// whole tree (the completion scripts and the man pages describe every
// command), so they are built with it.
var commands = []struct {
	name  string
	build func() *cobra.Command
	whole bool
}{
	{"start", newStart, false}, {"get", newGet, false}, {"receive", newReceive, false}, {"wait", newWait, false},
	{"stop", newStop, false}, {"remove", newRemove, false}, {"suspend", newSuspend, false}, {"resume", newResume, false},
	{"restart", newRestart, false}, {"edit", newEdit, false}, {"send", newSend, false}, {"events", newEvents, false},
	{"queue", newQueue, false}, {"location", newLocation, false}, {"definition", newDefinition, false},
	{"host", newHost, false}, {"runtime", newRuntime, false}, {"completion", newCompletion, true}, {"man", newMan, true},
}

// suggestFor points the words users of pueue, task-spooler and PowerShell
// type at bgjob's commands ("unknown command "status" ... Did you mean
// this? get").
var suggestFor = map[string][]string{
	"start":   {"add", "run", "submit", "Start-Job"},
	"get":     {"status", "list", "ls", "ps", "jobs", "Get-Job"},
	"receive": {"log", "logs", "follow", "output", "Receive-Job"},
	"wait":    {"Wait-Job"},
	"stop":    {"kill", "cancel", "Stop-Job"},
	"remove":  {"rm", "clean", "delete", "Remove-Job"},
	"suspend": {"pause", "Suspend-Job"},
	"resume":  {"Resume-Job"},
}

// newRoot is the whole command tree: help, completion and the man pages
// need every command.
func newRoot() *cobra.Command { return newRootFor(nil) }

// newRootFor is the command tree a call with args needs. When the first
// argument names a subcommand, the tree holds that one alone and no
// completions (a job's start pays only for what it uses): help for it,
// its flags, errors and exit codes are the same as in the whole tree. Any
// other call (the root's help or version, "__complete", a flag first) gets
// the whole tree; "--version" alone needs none.
func newRootFor(args []string) *cobra.Command {
	only := -1
	if len(args) > 0 {
		for i, c := range commands {
			if c.name == args[0] && !c.whole {
				only = i
			}
		}
	}
	root := &cobra.Command{
		Use:   "bgjob",
		Short: "Background jobs in isolated, versioned runtimes",
		Long: `bgjob runs scripts as background jobs, like PowerShell's Start-Job, each in
its own runtime process picked by name and semver constraint, and keeps the
jobs' seven streams (output, error, progress, verbose, debug, warning,
information) until you receive them.

A host daemon (bgjobd) keeps the job table under $BGJOB_HOME (default
~/.local/state/bgjob); any command starts it when it is not running, and it
exits by itself once it has had nothing to do for $BGJOB_IDLE_EXIT.
Runtimes live in the catalog under $BGJOB_RUNTIMES.

JOB is an id, a name (wildcards * ? [...] allowed) or an instance id.

`,
		Example: `  bgjob start --name Backup -- 'rsync -a ~/docs /backup/docs'
  bgjob get
  bgjob wait Backup && bgjob receive Backup
  source <(bgjob completion bash)`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Our own completion command (completion.go) takes its place.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetVersionTemplate("bgjob {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return api.WithCode(api.ExitUsage, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	root.PersistentFlags().BoolVar(&useSystem, "system", false, "use the system host ("+api.SystemSocket+"; or $BGJOB_SOCKET) instead of your own")
	root.PersistentFlags().StringVar(&colorMode, "color", "auto", "colour what is printed: auto (on a terminal, unless NO_COLOR is set), always or never")
	switch {
	case only >= 0:
		root.AddCommand(commands[only].build())
		return root
	case len(args) == 1 && args[0] == "--version":
		return root
	}
	root.Long += envHelp() + "\n" + exitCodesHelp()
	for _, c := range commands {
		cmd := c.build()
		cmd.SuggestFor = append(cmd.SuggestFor, suggestFor[c.name]...)
		root.AddCommand(cmd)
	}
	registerCompletions(root)
	return root
}
