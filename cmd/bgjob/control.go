package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

// Job control beyond Start-Job's cmdlets: suspend and resume (Suspend-Job,
// Resume-Job), restart, and the queue's limits and clean-up policy.

func newSuspend() *cobra.Command {
	return newActOn(api.OpSuspend, "Suspend jobs (Suspend-Job)",
		`Suspend the jobs: a running job's processes are stopped (SIGSTOP), all of
them, its runtime first; a queued job is skipped by the queue. Both stay
Suspended, across a host restart, until 'bgjob resume'. A suspended job
keeps its place in its group's limit. A running thread job shares its
process and cannot be suspended alone.`,
		`  bgjob suspend Build
  bgjob suspend --state Running`, "print the jobs")
}

func newResume() *cobra.Command {
	return newActOn(api.OpResume, "Resume suspended jobs (Resume-Job)",
		`Resume suspended jobs: a running job's processes continue where they
stopped; a queued one waits for its turn again.`,
		`  bgjob resume Build
  bgjob resume --state Suspended`, "print the jobs")
}

func newRestart() *cobra.Command {
	var (
		rr      api.RestartRequest
		after   []string
		edit    bool
		pwStdin bool
		output  string
		state   string
	)
	cmd := &cobra.Command{
		Use:   "restart [flags] JOB... | restart --state STATE",
		Short: "Run finished jobs again",
		Long: `Run finished jobs again with what they were given: script, arguments,
input, working directory, environment, user, group and dependencies. The
runtime is resolved again from the job's --runtime-version constraint, so a
runtime installed since that matches is the one that runs.

Each restart is a new job (a new id, the same name) and the old one stays
as it was, unless --in-place, which runs the job again under its own id
and drops its old output. --edit opens the script in $VISUAL or $EDITOR
(default vi) first. A job that ran as another user needs that user's
password again, unless you are root.`,
		Example: `  bgjob restart Build
  bgjob restart --in-place 12
  bgjob restart --edit Build
  bgjob restart --state Failed`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needJobsOrState(cmd, args, "restart", state); err != nil {
				return err
			}
			if edit && state != "" {
				return api.Errorf(api.ExitUsage, "--edit restarts one job; name it rather than --state")
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			if cmd.Flags().Changed("after") {
				rr.After = append([]string{}, after...)
			}
			if edit {
				script, err := editScript(&api.Request{Op: api.OpRestart, Jobs: args, Restart: &api.RestartRequest{Show: true}}, "restarted")
				if err != nil {
					return err
				}
				rr.Script = &script
			}
			var err error
			if rr.Password, err = restartPassword(pwStdin); err != nil {
				return err
			}
			// Named, so that a restart cut off by the host's death can be
			// sent again without restarting anything twice.
			rr.RequestID = api.NewInstanceID()
			return call(&api.Request{Op: api.OpRestart, Jobs: args, Restart: &rr, Filter: stateFilter(state), Output: output})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&rr.InPlace, "in-place", false, "run each job again under its own id, dropping its old output")
	f.BoolVar(&edit, "edit", false, "edit the script in $VISUAL or $EDITOR first (one job)")
	f.Var(stringList(&after), "after", "replace the jobs it waits for (repeatable)")
	f.BoolVar(&rr.AfterAnyState, "after-any-state", false, "with --after: run however they end")
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password of the user the job ran as from stdin")
	f.StringVar(&state, "state", "", "the jobs (named, or all) in this state: Failed, Stopped, Completed")
	outputFlag(f, &output, "table, json, or id (the new jobs' ids alone, one a line)", api.FormatTable, api.FormatJSON, api.FormatID)
	return cmd
}

// restartPassword is the password restart passes on: only with
// --password-stdin (the host says when one is needed, and asking on the
// terminal for every restart of one's own jobs would be noise).
func restartPassword(fromStdin bool) (string, error) {
	if !fromStdin {
		return "", nil
	}
	return readPasswordLine()
}

// editScript fetches the job's script with show, lets the user edit it,
// and returns the result; an emptied script cancels (what says what was
// not done then).
func editScript(show *api.Request, what string) (string, error) {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" && (!isTerminal(os.Stdin) || !isTerminal(os.Stdout)) {
		// vi off a terminal writes escape codes to a pipe and fails
		// on its input; an editor named in the environment may be a
		// program that edits without one (a script's sed), so it runs.
		return "", api.Errorf(api.ExitUsage, "no editor for the script: vi opens only on a terminal; set $VISUAL or $EDITOR to one that works here (nothing was %s)", what)
	}
	if editor == "" {
		editor = "vi"
	}
	var out bytes.Buffer
	if err := callTo(show, &out); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "bgjob-edit")
	if err != nil {
		return "", api.WithCode(api.ExitUsage, err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		return "", api.WithCode(api.ExitUsage, err)
	}
	// As git does: the editor setting is a shell command (it may carry
	// flags), given the file as its argument.
	ed := exec.Command("/bin/sh", "-c", editor+` "$@"`, editor, path)
	ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := ed.Run(); err != nil {
		return "", api.Errorf(api.ExitUsage, "the editor (%s) failed: %v; nothing was %s", editor, err, what)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", api.WithCode(api.ExitUsage, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "", api.Errorf(api.ExitUsage, "the script is empty; nothing was %s", what)
	}
	return string(b), nil
}

func newEdit() *cobra.Command {
	var (
		er       api.EditRequest
		script   string
		workdir  string
		priority int
		output   string
	)
	cmd := &cobra.Command{
		Use:   "edit [flags] JOB",
		Short: "Change a job that has not started yet",
		Long: `Change a queued job (NotStarted) before it runs: its script (--script),
environment (--env K=V, setting or replacing K), working directory
(--workdir), priority (--priority) or the jobs it waits for (--after, which
replaces them). Without any of these, on a terminal, the script opens in
$VISUAL or $EDITOR (default vi), as restart --edit does.

The change is made whole and stored before edit answers: the queue never
starts a job half-edited. A job that has begun cannot be edited: restart it
with --edit instead.`,
		Example: `  bgjob edit 12 --priority 10
  bgjob edit Build --env CC=clang --workdir /src/other
  bgjob edit Build`,
		Args: needJob("edit"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd); err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("script") {
				er.Script = &script
			}
			if f.Changed("priority") {
				er.Priority = &priority
			}
			if f.Changed("workdir") {
				abs, err := filepath.Abs(workdir)
				if err != nil {
					return api.WithCode(api.ExitUsage, err)
				}
				er.Workdir = &abs
			}
			if er.AfterAnyState && len(er.After) == 0 {
				return api.Errorf(api.ExitUsage, "--after-any-state goes with --after")
			}
			if er.Script == nil && er.Priority == nil && er.Workdir == nil && len(er.Env) == 0 && len(er.After) == 0 {
				if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
					return api.Errorf(api.ExitUsage, "nothing to change: give --script, --env, --workdir, --priority or --after (the script opens in an editor only on a terminal)")
				}
				s, err := editScript(&api.Request{Op: api.OpEdit, Jobs: args, Edit: &api.EditRequest{Show: true}}, "edited")
				if err != nil {
					return err
				}
				er.Script = &s
			}
			return call(&api.Request{Op: api.OpEdit, Jobs: args, Edit: &er, Output: output})
		},
	}
	f := cmd.Flags()
	f.StringVar(&script, "script", "", "the job's new script")
	f.Var(stringList(&er.Env), "env", "set K=V in the job's environment (repeatable)")
	f.StringVar(&workdir, "workdir", "", "the job's new working directory")
	f.IntVar(&priority, "priority", 0, "the job's new priority: higher starts first within its group")
	f.Var(stringList(&er.After), "after", "replace the jobs it waits for (repeatable)")
	f.BoolVar(&er.AfterAnyState, "after-any-state", false, "with --after: run however they end")
	outputFlag(f, &output, "table or json", api.FormatTable, api.FormatJSON)
	return cmd
}

func newQueue() *cobra.Command {
	var (
		q            api.QueueRequest
		maxRunning   int
		keepFinished int
		keepFor      string
		onEnd        string
		output       string
	)
	cmd := &cobra.Command{
		Use:   "queue [--group G] [--max-running N] [--keep-finished N] [--keep-for AGE] [--on-end CMD]",
		Short: "Show or set the queue's limits and clean-up policy",
		Long: `Show the queue: each group's limit of jobs running at once and its jobs
running, queued and suspended, and what happens to finished jobs.

--max-running N sets a group's limit (default group: default) at once:
queued jobs start if it went up; running jobs go on if it went down. 0
holds the group's jobs in the queue. A group made by 'start --group' runs
one job at a time until given a limit; the default group's limit is the
host's --max-running ($BGJOB_MAX_RUNNING, 16) until one is set here.

--keep-finished N keeps each user's N finished jobs that ended last and
removes the others with their output; --keep-for AGE (7d, 36h, 90m) removes
finished jobs that ended longer ago. 0 keeps everything (the default).

--on-end CMD runs CMD (sh -c) whenever any job ends, after the job's own
start --on-end: as the job's user, in its working directory, with
BGJOB_JOB_ID, BGJOB_JOB_NAME, BGJOB_JOB_STATE, BGJOB_JOB_EXIT_CODE,
BGJOB_JOB_REASON and BGJOB_JOB_GROUP set, and BGJOB_GROUP_DONE=1 when the
job was the last unfinished job of its group. --on-end '' removes it.

The settings are kept in the job table: they survive the host's restart.`,
		Example: `  bgjob queue
  bgjob queue --max-running 4
  bgjob queue --group gpu --max-running 1
  bgjob queue --keep-finished 500 --keep-for 7d
  bgjob queue --on-end 'notify-send "$BGJOB_JOB_NAME: $BGJOB_JOB_STATE"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd); err != nil {
				return err
			}
			fl := cmd.Flags()
			if fl.Changed("max-running") {
				q.MaxRunning = &maxRunning
			}
			if fl.Changed("keep-finished") {
				q.KeepFinished = &keepFinished
			}
			if fl.Changed("keep-for") {
				q.KeepFor = &keepFor
			}
			if fl.Changed("on-end") {
				q.OnEnd = &onEnd
			}
			if q.Group != "" && q.MaxRunning == nil && (q.KeepFinished != nil || q.KeepFor != nil || q.OnEnd != nil) {
				return api.Errorf(api.ExitUsage, "--group goes with --max-running (bgjob queue --group %s --max-running N): the clean-up policy is the host's, not a group's", q.Group)
			}
			return call(&api.Request{Op: api.OpQueue, Queue: &q, Output: output})
		},
	}
	f := cmd.Flags()
	f.Var(once(&q.Group), "group", "the group --max-running sets (default: default); alone, shows that group")
	f.IntVar(&maxRunning, "max-running", 0, "how many of the group's jobs run at once; 0 holds them queued")
	f.IntVar(&keepFinished, "keep-finished", 0, "keep each user's N newest finished jobs, remove older ones (0: all)")
	f.StringVar(&keepFor, "keep-for", "", "remove finished jobs that ended longer ago than this: 7d, 36h, 90m (0: never)")
	f.StringVar(&onEnd, "on-end", "", "a command (sh -c) run whenever a job ends, as the job's user ('': none)")
	outputFlag(f, &output, "table or json", api.FormatTable, api.FormatJSON)
	return cmd
}

func newLocation() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "location list",
		Short: "List where jobs can run, and whether each can be reached",
		Long: `List the locations jobs can run at (start --location): localhost, this
machine, always; slurm, the Slurm cluster that Slurm's commands
(sbatch, squeue, ...) on this machine reach, with its partitions, or why it
cannot be reached (Slurm not installed, slurmctld or munge not answering);
and ssh, the computers start --computer-name names, reached through this
machine's ssh client, with what a computer needs, or why ssh cannot run.`,
		Example: `  bgjob location list
  bgjob location list -o json`,
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the locations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd); err != nil {
				return err
			}
			return call(&api.Request{Op: api.OpLocation, Output: output})
		},
	}
	outputFlag(list.Flags(), &output, "table or json", api.FormatTable, api.FormatJSON)
	cmd.AddCommand(list)
	return cmd
}
