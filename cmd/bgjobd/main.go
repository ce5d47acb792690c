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
	"syscall"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/server"
	"github.com/hashicorp/go-hclog"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "runtime" {
		os.Exit(runtimeCmd(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) == 3 && os.Args[1] == "arch32" {
		// For the build: which GOARCH --run-as-32 picks on GOARCH arg.
		a, ok := catalog.Arch32(os.Args[2])
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
	maxRunning := flag.Int("max-running", envInt("BGJOB_MAX_RUNNING", host.DefaultMaxRunning), "runtimes running at once; more jobs wait as NotStarted ($BGJOB_MAX_RUNNING)")
	logLevel := flag.String("log-level", "info", "trace, debug, info, warn or error")
	system := flag.Bool("system", false, "serve every local user (as root): socket "+api.SystemSocket+", state "+api.SystemHome)
	socket := flag.String("socket", "", "listen here instead of the default socket")
	authHelper := flag.String("auth", defaultAuthHelper(), "the password checker (bgjob-auth, built with PAM) for --credential")
	defs, _ := api.DefaultDefinitions()
	definitions := flag.String("definitions", defs, "the directory of stored definitions whose triggers this host fires ($BGJOB_DEFINITIONS; empty: none)")
	pamConfDir := flag.String("pam-confdir", "", "read the PAM service file bgjob from this directory, not /etc/pam.d (for tests)")
	flag.Parse()

	if *system {
		if os.Geteuid() != 0 {
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
	logger := hclog.New(&hclog.LoggerOptions{Name: "bgjobd", Output: os.Stderr, Level: hclog.LevelFromString(*logLevel)})
	h, err := host.Open(host.Options{Home: *home, Runtimes: *runtimes, MaxRunning: *maxRunning, Logger: logger,
		System: *system, AuthHelper: *authHelper, PAMConfDir: *pamConfDir, Definitions: *definitions})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bgjobd: %v\n", err)
		return server.ExitCode(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("serving", "home", *home, "socket", *socket, "system", *system, "pid", os.Getpid())
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

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
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
