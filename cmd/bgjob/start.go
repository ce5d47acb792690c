package main

import (
	"bufio"
	"fmt"
	"os/user"

	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// startWaitExit says what start --wait exits with. The help and the man
// page take it from here, and a test checks that the README says the same,
// so the three cannot drift apart again.
const startWaitExit = "start --wait exits with the job's own exit status (0 if it completed, 7 if its script ended with exit 7), 143 if the job was stopped, and 1 if it failed without an exit status of its own (its runtime crashed, say)"

// startWaitHelp is the paragraph of start's help on --wait: startWaitExit
// laid out as the help is, at 74 columns. It is written out rather than
// made by wrap as the help is built, which every start does and which
// cost a start 20 µs (perf); TestStartWaitHelp keeps the two the same.
const startWaitHelp = `With --wait, start instead streams the job's output until it ends, then
removes it (Start-Job | Receive-Job -Wait -AutoRemoveJob): start --wait
exits with the job's own exit status (0 if it completed, 7 if its script
ended with exit 7), 143 if the job was stopped, and 1 if it failed without
an exit status of its own (its runtime crashed, say).`

func newStart() *cobra.Command {
	var (
		req        api.StartRequest
		inputs     []string
		inputFile  string
		scriptArgs []string
		env        []string
		wait       bool
		output     string
		pwStdin    bool
		quiet      bool
		verbose    bool
		debug      bool
		sl         api.SlurmRequest
		computers  []string
		compFile   string
		at         string
		delay      time.Duration
		forEach    string
	)
	cmd := &cobra.Command{
		Use:   "start [flags] [--] COMMAND... | start --file PATH [ARG...] | start --type TYPE [--definition-name NAME] [ARG...]",
		Short: "Start a background job (Start-Job)",
		Long: `Start a background job and print its row at once, like Start-Job.

The script runs in the runtime named by --runtime (default: shell) whose
version matches --runtime-version (a semver constraint; default: the newest
stable version). Flags come before the command; the words after them (or
after --) are the script, joined with spaces as ssh and pueue do, so
'bgjob start make -j4 test' runs make -j4 test and 'bgjob start
'echo a; echo b'' runs both. The script's own arguments ("$1"...) come
with --arg; with --file PATH the words after it are the script's
arguments, as with sh PATH ARG....

With --type, the job is of a custom type a plugin serves (bgjob runtime
list shows them): its words are the type's arguments, or --definition-name
starts one of the type's stored definitions (ScheduledJob's are HCL files
in the definition directory).

` + startWaitHelp + `

A job's input (--input, --input-file, --input -) is at most 64 MiB: it
travels in the start request and is stored with the job. Its name is at
most 256 bytes, and not digits alone (JOB 123 means the job whose id is
123). --env names are shell variable names, [A-Za-z_][A-Za-z0-9_]*.

With --foreach FILE (- : stdin) start makes a batch, as ForEach-Object
-Parallel -AsJob does: one parent job with a child job per non-blank line,
each running the script with its line as "$1" and $BGJOB_ITEM, at most
--throttle-limit (default 5) at once. The children are thread jobs, as
ForEach-Object -Parallel's runspaces share one process, when the runtime
can share a process (else processes); --processes makes each a job of its
own process, which can be suspended or signalled alone. The parent stands
for its children in get, receive, wait, stop and remove.

--at and --delay start the job later, once: it waits NotStarted ("starts
at ...") until then, and a host that was down then starts it when it
comes back. --at takes 15:04 (the next one: today or tomorrow),
"2006-01-02 15:04" (local time) or RFC 3339. --timeout stops an attempt
that runs longer (with the stop grace) and fails it ("timed out after
..."); --retries N runs a failed attempt again, up to N more times, as
the same job, after --retry-delay; a stop is not retried, a timeout is.
Only the last attempt's records are kept.`,
		Example: `  bgjob start -- 'echo hello; sleep 1'
  bgjob start make -j4 test
  bgjob start --arg one --arg 'two words' -- 'for a in "$@"; do echo "$a"; done'
  bgjob start --name Backup --workdir /srv --runtime-version '~2.0' --file ./backup.sh a b
  bgjob start --run-as-32 --runtime-version '~1' -- 'echo $BGJOB_RUNTIME_VERSION $BGJOB_RUNTIME_ARCH'
  echo /etc/hosts | bgjob start --input - -- 'while read f; do wc -l "$f"; done'
  bgjob start --wait -- 'echo hi'
  id=$(bgjob start -q -- make test)
  bgjob start --thread --throttle-limit 8 -- 'sleep 1; echo done'
  ls *.png | bgjob start --foreach - --throttle-limit 4 -- 'convert "$1" "${1%.png}.jpg"'
  bgjob start --type Copy -- ./photos /mnt/backup/photos
  bgjob start --type ScheduledJob --definition-name Backup
  bgjob start --name Test --after Build -- make test
  bgjob start --group gpu -- ./train.sh
  bgjob start --location slurm --partition debug --nodes 2 -- 'hostname'
  bgjob start --location ssh --computer-name-file Servers.txt --name WinRM --throttle-limit 16 -- 'uname -n'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The command line runs as written, as with ssh or pueue:
			// inline, the words are the script, joined with spaces, and
			// its arguments come with --arg; after --file PATH (as after
			// sh PATH) and for a custom type's job, the words are
			// arguments.
			custom := req.Typed()
			switch {
			case custom || req.File != "" || req.LiteralPath != "":
				if len(scriptArgs) > 0 && len(args) > 0 {
					return api.Errorf(api.ExitUsage, "give the arguments as words or with --arg, not both")
				}
				req.Args = append(scriptArgs, args...)
			case strings.TrimSpace(strings.Join(args, "")) == "":
				// None, or only blank words (start -- ''): nothing to run.
				return api.Errorf(api.ExitUsage, "give a command to run (bgjob start make -j4 test), a script ('echo a; echo b'), or --file PATH")
			default:
				req.Script, req.Args = strings.Join(args, " "), scriptArgs
			}
			if req.DefinitionName != "" && req.DefinitionPath == "" {
				dir, err := api.DefaultDefinitions()
				if err != nil {
					return api.WithCode(api.ExitUsage, err)
				}
				req.DefinitionPath = dir
			}
			if req.DefinitionPath != "" {
				abs, err := filepath.Abs(req.DefinitionPath)
				if err != nil {
					return api.WithCode(api.ExitUsage, err)
				}
				req.DefinitionPath = abs
			}
			if quiet {
				if cmd.Flags().Changed("output") && output != api.FormatID {
					return api.Errorf(api.ExitUsage, "-q prints the job's id alone, -o %s its row; give one", output)
				}
				output = api.FormatID
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			if wait && output == api.FormatID {
				return api.Errorf(api.ExitUsage, "--wait prints the job's output, not its id; leave out -q (or -o id)")
			}
			wd := req.Workdir
			if cmd.Flags().Changed("workdir") && wd == "" {
				return api.Errorf(api.ExitUsage, "--workdir is empty; give a directory, or leave the flag out for the current one")
			}
			if wd == "" {
				var err error
				if wd, err = os.Getwd(); err != nil {
					return api.Errorf(api.ExitUsage, "cannot find the current directory: %w; use --workdir", err)
				}
			}
			abs, err := filepath.Abs(wd)
			if err != nil {
				return api.WithCode(api.ExitUsage, err)
			}
			req.Workdir = abs
			if cmd.Flags().Changed("throttle-limit") && req.ThrottleLimit <= 0 {
				return api.Errorf(api.ExitUsage, "--throttle-limit %d: give how many may run at once, 1 or more", req.ThrottleLimit)
			}
			if cmd.Flags().Changed("foreach") {
				if wait {
					return api.Errorf(api.ExitUsage, "--foreach starts a batch in the background; receive it with 'bgjob receive --wait ID' instead of --wait")
				}
				if req.ForEach, err = readItems(forEach, inputs); err != nil {
					return err
				}
			}
			if req.Input, err = readInput(inputs, inputFile); err != nil {
				return err
			}
			// A job sees the caller's environment, as a command run from
			// this shell would, plus --env.
			for _, kv := range env {
				if err := api.CheckEnvName(kv); err != nil {
					return api.WithCode(api.ExitUsage, err)
				}
			}
			if err := api.CheckName(req.Name); err != nil {
				return api.WithCode(api.ExitUsage, fmt.Errorf("--name: %w", err))
			}
			for _, name := range []string{"partition", "nodes", "nodelist", "ntasks", "time", "slurm-arg"} {
				if cmd.Flags().Changed(name) {
					req.Slurm = &sl
				}
			}
			for name, n := range map[string]int{"nodes": sl.Nodes, "ntasks": sl.Tasks} {
				if cmd.Flags().Changed(name) && n <= 0 {
					return api.Errorf(api.ExitUsage, "--%s %d: give a positive number", name, n)
				}
			}
			if err := sshFlags(cmd, &req, computers, compFile); err != nil {
				return err
			}
			if err := laterFlags(cmd, &req, at, delay); err != nil {
				return err
			}
			req.Env, req.EnvAdd = os.Environ(), env
			req.Umask = umask()
			if req.Password, err = password(req.Credential, pwStdin, inputs); err != nil {
				return err
			}
			// The job's instance id is chosen here, so that a start cut
			// off by the host's death can be sent again (call does, once)
			// without making the job twice.
			req.InstanceID = api.NewInstanceID()
			if (verbose || debug) && !wait {
				return api.Errorf(api.ExitUsage, "--verbose and --debug show records while --wait streams them; without --wait, give them to 'bgjob receive'")
			}
			return call(&api.Request{Op: api.OpStart, Start: &req, Wait: wait, Output: output, Verbose: verbose, Debug: debug})
		},
	}
	cmd.Flags().SetInterspersed(false)
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "the job's name (default Job<Id>); names need not be unique")
	f.Var(stringList(&scriptArgs), "arg", "an argument for the script, \"$1\"... (repeatable; -ArgumentList)")
	f.StringVar(&req.File, "file", "", "run the script in this file; wildcards allowed, but they must match exactly one file")
	f.StringVar(&req.LiteralPath, "literal-path", "", "run the script in this file, taking the path literally (no wildcards)")
	f.StringVar(&req.Init, "init", "", "an initialisation script run first in the same session (its functions and variables stay visible)")
	f.StringVar(&req.InitFile, "init-file", "", "read the initialisation script from this file")
	f.StringVar(&req.Workdir, "workdir", "", "the job's working directory (default: the current directory)")
	f.StringVar(&req.Runtime, "runtime", "", "the runtime to run the job in (default shell)")
	f.StringVar(&req.Type, "type", "", "the job's type (-Type): BackgroundJob (a script; the default) or a custom type a plugin serves, e.g. ScheduledJob or Copy; its words are arguments")
	f.StringVar(&req.DefinitionName, "definition-name", "", "start the stored definition of this name (-DefinitionName; wildcards allowed, must match one); type ScheduledJob unless --type says")
	f.StringVar(&req.DefinitionPath, "definition-path", "", "the directory of stored definitions (-DefinitionPath; default $BGJOB_DEFINITIONS, $XDG_CONFIG_HOME/bgjob/jobs or ~/.config/bgjob/jobs)")
	f.StringVar(&req.RuntimeVersion, "runtime-version", "", "a semver constraint on the runtime's version (with --type, the type plugin's), e.g. '~2.0' (default: newest stable)")
	f.BoolVar(&req.Thread, "thread", false, "a thread job (Start-ThreadJob): share one runtime process with the other thread jobs, each in its own interpreter; cheaper, but a crash of the process fails them all")
	f.IntVar(&req.ThrottleLimit, "throttle-limit", 0, "with --thread: how many thread jobs run at once (default 5); with --foreach: how many of the batch's child jobs (default 5); with --location ssh: how many computers are connected at once (default 32); the rest wait as NotStarted")
	f.StringVar(&forEach, "foreach", "", "start a batch (ForEach-Object -Parallel -AsJob): a parent job with a child job per line of this file (- : stdin), the line as \"$1\" and $BGJOB_ITEM; blank lines are skipped; the children are thread jobs when the runtime can share a process")
	f.BoolVar(&req.Processes, "processes", false, "with --foreach: run each child job in a runtime process of its own (BackgroundJob), not as a thread job, so that it can be suspended or signalled alone and a crash fails it alone")
	f.BoolVar(&req.RunAs32, "run-as-32", false, "run the job in the 32-bit build of the runtime (386 on amd64, arm on arm64), as -RunAs32 does")
	f.Var(stringList(&inputs), "input", "a line of input for the job's stdin (repeatable); '-' reads this command's stdin; at most 64 MiB in all")
	f.BoolVar(&req.StdinOpen, "stdin-open", false, "keep the job's stdin open while it runs, for 'bgjob send' (it reads --input first); without it the job's input ends after --input")
	f.StringVar(&inputFile, "input-file", "", "a file whose content is the job's stdin (at most 64 MiB)")
	f.Var(stringList(&env), "env", "KEY=VALUE added to the job's environment (repeatable)")
	f.BoolVar(&req.MergeError, "merge-error", false, "the job's stderr is output, as 2>&1 makes it: its lines are Output records, not Error records (write-error still writes errors)")
	f.StringVar(&req.OnEnd, "on-end", "", "a command (sh -c) run when the job ends, as its user in its working directory, with BGJOB_JOB_ID, _NAME, _STATE, _EXIT_CODE, _REASON, _GROUP set (and BGJOB_GROUP_DONE=1 if it was its group's last)")
	f.BoolVar(&wait, "wait", false, "stream the job's output until it ends, then remove it, and exit with the job's exit status (143 if it was stopped)")
	f.BoolVar(&verbose, "verbose", false, "with --wait: print the job's verbose records too, as receive --verbose does")
	f.BoolVar(&debug, "debug", false, "with --wait: print the job's debug records too, as receive --debug does")
	f.StringVar(&req.Credential, "credential", "", "run the job as this user (-Credential): root may, others give the user's password (asked for on the terminal); needs the system host")
	f.BoolVar(&pwStdin, "password-stdin", false, "read --credential's password from stdin (the first line)")
	f.StringVar(&req.Authentication, "authentication", "", "how --credential is checked: Default or Basic (a password); Negotiate, Credssp, Digest, Kerberos and NegotiateWithImplicitCredential are refused here")
	f.Var(stringList(&req.After), "after", "wait until this job has finished (an id, a name or a wildcard; repeatable); if one fails or is stopped this job fails without running")
	f.BoolVar(&req.AfterAnyState, "after-any-state", false, "with --after: run however the jobs before it end")
	f.Var(once(&req.Group), "group", "the queue group whose limit the job counts against (default: default); 'bgjob queue' shows and sets the limits")
	f.IntVar(&req.Priority, "priority", 0, "queue order within the group: a job of higher priority starts first (default 0; ties by id); negative waits behind")
	f.StringVar(&at, "at", "", "start the job then, once: 15:04 (the next one), '2006-01-02 15:04' (local time) or RFC 3339; it waits NotStarted till then")
	f.Var(durationFlag{&delay}, "delay", "start the job after this long, once (90s, 2h30m, 1d)")
	f.Var(durationFlag{&req.Timeout}, "timeout", "stop an attempt that runs longer than this (90s, 2h, 1d; with the stop grace); it fails, \"timed out after ...\"")
	f.IntVar(&req.Retries, "retries", 0, "run a failed attempt again, up to N more times, as the same job (a stop is not retried; a timeout is)")
	f.Var(durationFlag{&req.RetryDelay}, "retry-delay", "with --retries: wait this long before the next attempt (90s, 2h, 1d)")
	f.StringVar(&req.Location, "location", "", "where the job runs: localhost (default), slurm, the cluster Slurm's commands reach, or ssh, the computers --computer-name names ('bgjob location list')")
	f.Var(computerList(&computers), "computer-name", "run the job on these computers over ssh, a child job on each (a,b; repeatable; -ComputerName): host names, user@host:port or ssh_config aliases; implies --location ssh")
	f.Var(computerList(&computers), "host-name", "the same as --computer-name (-HostName)")
	f.StringVar(&compFile, "computer-name-file", "", "read the computers for --location ssh from this file, one a line (blank lines and # comments skipped)")
	f.StringVar(&sl.Partition, "partition", "", "with --location slurm: the Slurm partition (default: the cluster's default)")
	f.IntVar(&sl.Nodes, "nodes", 0, fmt.Sprintf("with --location slurm: run on N nodes, a child job on each (at most %d)", api.MaxSlurmTasks))
	f.StringVar(&sl.NodeList, "nodelist", "", "with --location slurm: run on these nodes (a,b), a child job on each")
	f.IntVar(&sl.Tasks, "ntasks", 0, fmt.Sprintf("with --location slurm: run N tasks, a child job for each (they may share nodes; at most %d)", api.MaxSlurmTasks))
	f.StringVar(&sl.Time, "time", "", "with --location slurm: the time limit, as sbatch --time takes it (30, 1:00:00, 2-0)")
	f.Var(stringList(&sl.Args), "slurm-arg", "with --location slurm: a further sbatch option, e.g. --slurm-arg=--mem=4G (repeatable)")
	outputFlag(f, &output, "table, json, or id (the new job's id alone, for scripts)", api.FormatTable, api.FormatJSON, api.FormatID)
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the new job's id (-o id)")
	return cmd
}

// readInput builds the job's stdin from --input values, --input-file, or
// this command's stdin for --input -. It reads at most api.MaxInput and a
// byte, so an endless source (/dev/zero) is refused at once rather than
// read into memory.
func readInput(values []string, file string) ([]byte, error) {
	if file != "" && len(values) > 0 {
		return nil, api.Errorf(api.ExitUsage, "give --input or --input-file, not both")
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, api.Errorf(api.ExitUsage, "cannot read --input-file: %w", err)
		}
		defer f.Close()
		return readLimited(f, "--input-file "+file)
	}
	if len(values) == 1 && values[0] == "-" {
		return readLimited(os.Stdin, "--input - (stdin)")
	}
	if slices.Contains(values, "-") {
		// A line "-" beside other lines, or stdin read twice: neither is
		// what was meant.
		return nil, api.Errorf(api.ExitUsage, "--input - reads this command's stdin as the job's input, and goes alone; give the other lines on stdin too, or --input-file")
	}
	if len(values) == 0 {
		return nil, nil
	}
	b := []byte(strings.Join(values, "\n") + "\n")
	if len(b) > api.MaxInput {
		return nil, inputTooLarge("--input")
	}
	return b, nil
}

// readLimited reads r whole if it holds at most api.MaxInput bytes.
func readLimited(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, api.MaxInput+1))
	if err != nil {
		return nil, api.Errorf(api.ExitUsage, "cannot read %s: %w", what, err)
	}
	if len(b) > api.MaxInput {
		return nil, inputTooLarge(what)
	}
	return b, nil
}

func inputTooLarge(what string) error {
	return api.Errorf(api.ExitUsage, "%s is more than 64 MiB, the most a job's input can be (it travels in the start request and is stored with the job); give the job a path to read instead", what)
}

// formatsKey is the annotation of an -o flag listing the formats it
// takes, the first its default: checkOutput and the completion of -o both
// read them there, so the two agree.
const formatsKey = "bgjob_formats"

// outputFlag adds -o/--output to f, taking one of formats.
func outputFlag(f *pflag.FlagSet, p *string, usage string, formats ...string) {
	f.StringVarP(p, "output", "o", formats[0], usage)
	_ = f.SetAnnotation("output", formatsKey, formats)
}

// outputFormats lists what cmd's -o takes; nil if it has none.
func outputFormats(cmd *cobra.Command) []string {
	if fl := cmd.Flags().Lookup("output"); fl != nil {
		return fl.Annotations[formatsKey]
	}
	return nil
}

// checkOutput refuses an -o value cmd does not take.
func checkOutput(cmd *cobra.Command) error {
	got := cmd.Flags().Lookup("output").Value.String()
	allowed := outputFormats(cmd)
	for _, a := range allowed {
		if got == a {
			return nil
		}
	}
	list := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	return api.Errorf(api.ExitUsage, "unknown output format %q; use %s", got, list)
}

// password is the --credential user's password, when the host will want
// one: read from stdin with --password-stdin, else from the terminal
// without echo. Root, and a caller naming themself, need none. Never from
// a flag or the environment.
func password(credential string, fromStdin bool, inputs []string) (string, error) {
	if fromStdin && credential == "" {
		return "", api.Errorf(api.ExitUsage, "--password-stdin goes with --credential")
	}
	// Only the system host runs jobs as others, and it lets root in
	// without one; a user's own host refuses --credential with the way to
	// the system host, which asking for a password first would hide.
	if credential == "" || os.Geteuid() == 0 || systemSocket() == "" {
		return "", nil
	}
	if u, err := user.Current(); err == nil && u.Username == credential {
		return "", nil
	}
	if fromStdin {
		if len(inputs) == 1 && inputs[0] == "-" {
			return "", api.Errorf(api.ExitUsage, "--password-stdin and --input - both want stdin; use --input-file for the job's input")
		}
		return readPasswordLine()
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", api.Errorf(api.ExitUsage, "running a job as %s needs %s's password, and there is no terminal to ask on; pass it with --password-stdin", credential, credential)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "Password for %s: ", credential)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", api.Errorf(api.ExitUsage, "cannot read the password: %w", err)
	}
	return string(pw), nil
}

// readPasswordLine reads a password, the first line of stdin.
func readPasswordLine() (string, error) {
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", api.Errorf(api.ExitUsage, "cannot read the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// laterFlags puts --at or --delay into req, as a time (this command's
// clock and time zone are the user's; the host's need not be).
func laterFlags(cmd *cobra.Command, req *api.StartRequest, at string, delay time.Duration) error {
	switch {
	case cmd.Flags().Changed("at") && cmd.Flags().Changed("delay"):
		return api.Errorf(api.ExitUsage, "give --at or --delay, not both")
	case cmd.Flags().Changed("at"):
		t, err := api.ParseAt(at, time.Now())
		if err != nil {
			return api.WithCode(api.ExitUsage, err)
		}
		req.StartAt = &t
	case cmd.Flags().Changed("delay"):
		if delay <= 0 {
			return api.Errorf(api.ExitUsage, "--delay %s: give a positive duration such as 90s or 2h", delay)
		}
		t := time.Now().Add(delay)
		req.StartAt = &t
	}
	if cmd.Flags().Changed("timeout") && req.Timeout <= 0 {
		return api.Errorf(api.ExitUsage, "--timeout %s: give a positive duration such as 90s or 2h", req.Timeout)
	}
	return nil
}
