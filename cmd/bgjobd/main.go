// Command bgjobd is the bgjob host daemon: it keeps the job table, runs jobs
// in runtime plugins and answers the bgjob CLI on a unix socket. `bgjob host`
// runs it in the foreground; every other bgjob command starts it on demand.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/server"
	"github.com/hashicorp/go-hclog"
)

func main() {
	// Before anything else opens a file: whatever this process inherited
	// beyond 0, 1 and 2 (a caller's lock or pipe, when run in the
	// foreground or by a service manager) is closed, so that neither the
	// host nor its runtimes and jobs hold it.
	if err := api.CloseInherited(); err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd: %v\n", err)
		os.Exit(api.ExitUnavailable)
	}
	if len(os.Args) > 1 && os.Args[1] == "runtime" {
		os.Exit(runtimeCmd(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) == 3 && os.Args[1] == "slurm-task" {
		os.Exit(slurmTask(os.Args[2]))
	}
	if len(os.Args) > 1 && os.Args[1] == "remote-task" {
		os.Exit(remoteTask(os.Args[2:]))
	}
	if (len(os.Args) == 3 || len(os.Args) == 4) && os.Args[1] == "arch32" {
		// For the build: which GOARCH --run-as-32 picks on [GOOS] GOARCH
		// (GOOS: this one's, if not given).
		goos, goarch := runtime.GOOS, os.Args[2]
		if len(os.Args) == 4 {
			goos, goarch = os.Args[2], os.Args[3]
		}
		a, ok := catalog.Arch32(goos, goarch)
		if !ok {
			os.Exit(1)
		}
		fmt.Println(a)
		os.Exit(0)
	}
	os.Exit(run())
}

func run() int {
	defHome, _ := api.DefaultHome()
	home := flag.String("home", defHome, "the host's home: job table, records, socket ($BGJOB_HOME)")
	runtimes := flag.String("runtimes", "", "the runtime catalog ($BGJOB_RUNTIMES, default under the user's data dir)")
	maxRunning := flag.Int("max-running", envInt("BGJOB_MAX_RUNNING", host.DefaultMaxRunning), "the default group's limit of jobs running at once, until 'bgjob queue --max-running' sets one; more wait as NotStarted ($BGJOB_MAX_RUNNING)")
	logLevel := flag.String("log-level", "info", "trace, debug, info, warn or error")
	system := flag.Bool("system", false, "serve every local user (as root): socket "+api.SystemSocket+", state "+api.SystemHome)
	socket := flag.String("socket", "", "listen here instead of the default socket")
	authHelper := flag.String("auth", defaultAuthHelper(), "the password checker (bgjob-auth, built with PAM) for --credential")
	defs, _ := api.DefaultDefinitions()
	definitions := flag.String("definitions", defs, "the directory of stored definitions whose triggers this host fires ($BGJOB_DEFINITIONS; empty: none)")
	pamConfDir := flag.String("pam-confdir", "", "read the PAM service file bgjob from this directory, not /etc/pam.d (for tests)")
	idleExit := flag.Duration("idle-exit", envDuration("BGJOB_IDLE_EXIT", defaultIdleExit), "exit after this long with no job running or queued, no call in progress and no enabled trigger; 0 never ($BGJOB_IDLE_EXIT; never with -system or -socket)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the host to `file` until it exits (for performance work: go tool pprof)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bgjobd: %v\n", err)
			return api.ExitUsage
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "bgjobd: %v\n", err)
			return api.ExitUsage
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	if *system {
		// (On Windows, where there is no euid, host.Open refuses the
		// system host, saying so.)
		if os.Geteuid() != 0 && runtime.GOOS != "windows" {
			fmt.Fprintln(os.Stderr, "bgjobd: the system host (-system) runs as root, to run each user's jobs as that user")
			return api.ExitUsage
		}
		if !flagSet("home") {
			*home = api.SystemHome
		}
		if *socket == "" {
			*socket = api.SystemSocket
		}
		if *runtimes == "" {
			*runtimes = filepath.Join(api.SystemHome, "runtimes")
		}
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		fmt.Fprintf(os.Stderr, "bgjobd: -log-level %q: give trace, debug, info, warn or error\n", *logLevel)
		return api.ExitUsage
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "bgjobd", Output: os.Stderr, Level: level})
	h, err := host.Open(host.Options{Home: *home, Runtimes: *runtimes, MaxRunning: *maxRunning, Logger: logger,
		System: *system, AuthHelper: *authHelper, PAMConfDir: *pamConfDir, Definitions: *definitions,
		SlurmBin: os.Getenv("BGJOB_SLURM_BIN"), SlurmDir: os.Getenv("BGJOB_SLURM_DIR"), SSH: os.Getenv("BGJOB_SSH")})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd: %v\n", err)
		return server.ExitCode(err)
	}
	// The table is loaded (its rows decoded on every processor): from here
	// the host coordinates while its jobs' runtimes do the work.
	procs := hostProcs(runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS"))
	if procs != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(procs)
	}
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Cancelled by a signal, or when the host has been idle long enough.
	ctx, quit := context.WithCancel(sigCtx)
	defer quit()
	logger.Info("serving", "home", *home, "socket", *socket, "system", *system, "pid", os.Getpid(), "procs", procs)
	// A user's host that has had nothing to do for a while goes away; the
	// next command starts one again. The system host is a service, and a
	// host on a socket of its own is not one the CLI would start again.
	if !*system && *socket == "" && *idleExit > 0 {
		sock := api.SocketPath(h.Home())
		idle := func() bool { return h.Idle() && !callsOpen(sock) }
		go watchIdle(ctx, *idleExit, idleTick(*idleExit), idle, func() {
			logger.Info("exiting: nothing to do for the idle period (-idle-exit); the next bgjob command starts a host again", "idle-exit", idleExit.String())
			quit()
		})
	}
	serveErr := server.Serve(ctx, h, server.Options{Socket: *socket, System: *system})
	stop()
	// Jobs keep running in their runtimes; the next host reattaches.
	if err := h.Close(); err != nil {
		logger.Error("closing", "err", err)
	}
	if serveErr != nil {
		fmt.Fprintf(os.Stderr, "bgjobd: %v\n", serveErr)
		return api.ExitUnavailable
	}
	return 0
}

// hostProcs is how many processors the host's own goroutines run on, of
// the n Go gave it: half, at least one; n when $GOMAXPROCS (env) is set,
// which decides instead. The
// host's work is short turns between its callers and its runtimes, and a
// second processor of its own costs more than it gains on a small
// machine: an idle one is woken for each turn, and looks for work while
// the job's processes want the core. On 2 processors, paired against both
// (farm-bench, medians): 512 MiB relayed to a start --wait x0.66 / 0.84 /
// 0.80 (three sets of pairs), start --wait echo hi x0.98, a queued start
// x0.96, 300 jobs one by one x0.96, a 1000-child batch x1.10-1.14 (the one
// figure the host's own CPU bounds; still well within its goal); the
// host's CPU for a start --wait a third less (perf: 39% fewer context
// switches). Set so, it no longer follows a later change of the cgroup's
// CPU limit, as Go's default would.
func hostProcs(n int, env string) int {
	if env != "" {
		return n
	}
	return max(1, n/2)
}

// defaultIdleExit is how long a user's host waits with nothing to do
// before it exits.
const defaultIdleExit = 10 * time.Minute

// envDuration reads a duration (10m, 30s, 0) from the environment; a plain
// number is seconds. A value that is neither is reported and def used.
func envDuration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e9 {
		return time.Duration(n * float64(time.Second))
	}
	fmt.Fprintf(os.Stderr, "bgjobd: $%s=%q is not a duration (such as 10m, 30s or 0); using %v\n", name, v, def)
	return def
}

// idleTick is how often the host looks whether it is idle: often enough
// that it exits soon after the idle period, at most every 5 s.
func idleTick(period time.Duration) time.Duration {
	return min(max(period/4, 50*time.Millisecond), 5*time.Second)
}

// watchIdle calls exit once idle has been true at every look, every tick,
// for period; any look at which it is false starts the count again.
func watchIdle(ctx context.Context, period, tick time.Duration, idle func() bool, exit func()) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var since time.Time // when idle was first seen true, in a row; zero: not idle
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			switch {
			case !idle():
				since = time.Time{}
			case since.IsZero():
				since = now
			case now.Sub(since) >= period:
				exit()
				return
			}
		}
	}
}

// callsOpen reports whether a CLI is connected to the host's socket now:
// on Linux, whether /proc/net/unix lists a connected socket bound to
// sock, which is what an accepted connection is. (Elsewhere it reports
// false, and Host.Idle alone decides.) It is what keeps a host with a slow
// reader of a long listing, say, from leaving in the middle of it.
func callsOpen(sock string) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	return connectedTo(string(b), sock)
}

// connectedTo reports whether a /proc/net/unix table lists a connection
// bound to sock: accepted (state 03, connected) or waiting to be (02,
// connecting). The listening socket itself is unconnected (01).
func connectedTo(table, sock string) bool {
	// Num RefCount Protocol Flags Type St Inode Path
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && (f[5] == "02" || f[5] == "03") && strings.Join(f[7:], " ") == sock {
			return true
		}
	}
	return false
}

func envInt(name string, def int) int {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return n
	}
	// Said, as envDuration says it: a limit silently left at its default
	// looks like a limit that took.
	fmt.Fprintf(os.Stderr, "bgjobd: $%s=%q is not a whole number of 1 or more; using %d\n", name, v, def)
	return def
}

// flagSet reports whether the flag was given.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// defaultAuthHelper is bgjob-auth beside this binary, where the build puts
// it.
func defaultAuthHelper() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(self), "bgjob-auth")
}
