package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func newHost() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host [flags]",
		Short: "Run the host daemon in the foreground, or stop it",
		Long: `Run the host daemon (bgjobd) in the foreground, logging to stderr. Other
commands start it on demand in the background (logging to
$BGJOB_HOME/host.log), so this is for watching it, or for running it as a
service. A second host on the same $BGJOB_HOME refuses to start (exit
code 6).

A host started on demand exits by itself once it has had no job running
or queued, no call in progress and no enabled trigger for a while
($BGJOB_IDLE_EXIT, default 10m); the next command starts one again. A host
run with 'bgjob host' stays until stopped, unless --idle-exit (or
$BGJOB_IDLE_EXIT) says otherwise.

With --system (as root) it is the system host, which serves every local
user at ` + api.SystemSocket + `, runs each job as its user and never exits by
itself; it is usually run by systemd (docs/system/bgjob.service).

The flags are bgjobd's and are passed to it as they are (-flag works as
well as --flag); --home defaults to $BGJOB_HOME.

'bgjob host stop' stops your host. Jobs keep running in their runtimes,
and the next host reattaches to them.`,
		Example: `  bgjob host
  bgjob host --log-level debug
  bgjob host --idle-exit 30m
  bgjob host stop
  sudo bgjob host --system`,
		Args:               cobra.ArbitraryArgs,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags are bgjobd's, but help is ours, in the style of
			// every other command's.
			for _, a := range args {
				if a == "--" {
					break
				}
				if a == "-h" || a == "-help" || a == "--help" {
					return cmd.Help()
				}
			}
			bin, err := hostBinary()
			if err != nil {
				return api.WithCode(api.ExitUnavailable, err)
			}
			argv := append([]string{bin}, args...)
			if home, err := api.DefaultHome(); err == nil && !hasFlag(args, "home") && !hasFlag(args, "system") {
				argv = append([]string{bin, "-home", home}, args...)
			}
			// A host run in the foreground is run on purpose (by hand, by
			// a user service): it stays until stopped, unless told.
			if !hasFlag(args, "idle-exit") && os.Getenv("BGJOB_IDLE_EXIT") == "" {
				argv = append(argv, "-idle-exit", "0")
			}
			return api.WithCode(api.ExitUnavailable, execHost(bin, argv))
		},
	}
	// bgjobd's flags, for help and the man page only: with flag parsing
	// off they are passed on, never parsed here. (TestHostFlags checks
	// them against bgjobd's.)
	f := cmd.Flags()
	f.String("home", "", "the host's home: job table, records, socket, host.pid and host.log (default $BGJOB_HOME)")
	f.String("runtimes", "", "the runtime catalog (default $BGJOB_RUNTIMES, or ~/.local/share/bgjob/runtimes)")
	f.Int("max-running", 16, "the default group's limit of jobs running at once, until 'bgjob queue --max-running' sets one; more wait as NotStarted ($BGJOB_MAX_RUNNING)")
	f.String("log-level", "info", "trace, debug, info, warn or error")
	f.String("socket", "", "listen here instead of the default socket")
	f.String("auth", "", "the password checker for --credential (default bgjob-auth beside bgjobd)")
	f.String("definitions", "", "the directory of stored definitions whose triggers the host fires (default $BGJOB_DEFINITIONS, or ~/.config/bgjob/jobs; empty: none)")
	f.String("pam-confdir", "", "read the PAM service file bgjob from this directory, not /etc/pam.d (for tests)")
	f.String("cpuprofile", "", "write a CPU profile of the host to this file until it exits (for performance work)")
	f.Duration("idle-exit", 10*time.Minute, "exit after this long with nothing to do; 0 never ($BGJOB_IDLE_EXIT; never with --system or --socket)")
	cmd.AddCommand(newHostStop())
	return cmd
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || len(a) > len(name)+2 && (a[:len(name)+2] == "-"+name+"=" || a[:len(name)+3] == "--"+name+"=") {
			return true
		}
	}
	return false
}

// hostStopTimeout is how long `host stop` waits for the host to exit.
const hostStopTimeout = 10 * time.Second

func newHostStop() *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop your host; its jobs keep running",
		Long: `Stop your host (the one serving $BGJOB_HOME): it is asked to end
(SIGTERM), and 'host stop' returns once it has, printing nothing. Jobs
keep running in their runtimes: the next bgjob command starts a host, which
reattaches to them, and nothing they print is lost. With no host running it
says so and exits 0; a host that has not ended within 10 seconds is an
error (exit code 7).

The system host (--system) is a service: stop it with 'systemctl stop
bgjob'; one run in the foreground ('bgjob host --system') ends with Ctrl-C,
or SIGTERM to the pid in host.pid in its --home (default /var/lib/bgjob).`,
		Example: `  bgjob host stop
  bgjob host stop && bgjob get     # a new host, the same jobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sock := systemSocket(); sock != "" {
				return api.Errorf(api.ExitUsage, "the system host is a service: systemctl stop bgjob (one run in the foreground with 'bgjob host --system' ends with Ctrl-C, or: kill $(cat /var/lib/bgjob/host.pid), the host.pid of its --home)")
			}
			home, err := api.DefaultHome()
			if err != nil {
				return api.WithCode(api.ExitUnavailable, err)
			}
			return stopHost(home, hostStopTimeout, cmd.ErrOrStderr())
		},
	}
}

// stopHost ends the host serving home and waits up to timeout for it to
// exit. No host running is not an error; it is said on w.
func stopHost(home string, timeout time.Duration, w io.Writer) error {
	pid, ok := runningHost(home)
	if !ok {
		fmt.Fprintf(w, "no host is running for %s\n", home)
		return nil
	}
	if err := terminate(pid); err != nil {
		if !processAlive(pid) {
			return nil // it ended meanwhile
		}
		return api.Errorf(api.ExitUnavailable, "cannot stop the host (pid %d) for %s: %w", pid, home, err)
	}
	deadline := time.Now().Add(timeout)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return api.Errorf(api.ExitUnavailable, "the host (pid %d) for %s did not exit within %v of being asked to; see %s, or end it with 'kill -9 %d' (its jobs keep running)",
				pid, home, timeout, filepath.Join(home, "host.log"), pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// runningHost is the pid of the host serving home, from the host.pid it
// writes there, if that process runs and (on Linux, where /proc says) is
// a bgjobd for this home: a host killed hard leaves host.pid behind, and
// its pid may have been reused since.
func runningHost(home string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(home, "host.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || pid == os.Getpid() || !processAlive(pid) {
		return 0, false
	}
	if runtime.GOOS != "linux" {
		return pid, true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return pid, servesHome(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"), cwd, home)
}

// servesHome reports whether argv, run in the directory cwd, is a bgjobd
// serving home: one given -home HOME, or none (it wrote host.pid in its
// default home, which is this one).
func servesHome(argv []string, cwd, home string) bool {
	sameDir := func(dir, home string) bool {
		if !filepath.IsAbs(dir) && cwd != "" {
			dir = filepath.Join(cwd, dir)
		}
		return sameDir(dir, home)
	}
	if len(argv) == 0 || !strings.Contains(filepath.Base(argv[0]), "bgjobd") {
		return false
	}
	for i, a := range argv[1:] {
		for _, prefix := range []string{"-home", "--home"} {
			switch {
			case a == prefix && i+2 < len(argv):
				return sameDir(argv[i+2], home)
			case strings.HasPrefix(a, prefix+"="):
				return sameDir(strings.TrimPrefix(a, prefix+"="), home)
			}
		}
		if a == "-system" || a == "--system" {
			return false
		}
	}
	return true
}

func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
