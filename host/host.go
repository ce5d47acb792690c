package host

import (
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/events"
	"github.com/bgjob/bgjob/host/internal/home"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/locations"
	"github.com/bgjob/bgjob/host/internal/runner"
	"github.com/bgjob/bgjob/host/internal/triggers"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/hashicorp/go-hclog"
)

// Options configure a Host.
type Options struct {
	// Home holds the job table, record logs and sockets.
	Home string
	// Runtimes is the catalog root; empty means catalog.DefaultRoot().
	Runtimes string
	// MaxRunning bounds the jobs running at once; more wait as NotStarted
	// rows. Zero means DefaultMaxRunning.
	MaxRunning int
	// StopGrace is how long a stopped job's processes get to end before
	// they are killed. Zero means DefaultStopGrace.
	StopGrace time.Duration
	// Logger receives the host's own log; nil discards it.
	Logger hclog.Logger
	// Launcher starts runtime processes; nil means the go-plugin launcher
	// with spares (see NoSpares).
	Launcher launch.Launcher
	// NoSpares turns off starting runtimes ahead of need in the default
	// launcher.
	NoSpares bool
	// System makes the host serve every local user (it runs as root): each
	// job runs as its submitter, or as another user with --credential, and
	// the home's directories let those users reach their jobs' sockets.
	System bool
	// AuthHelper checks a user's password (bgjob-auth: PAM, in a process
	// of its own, so that the host needs no cgo); empty or missing means
	// --credential works only for callers who are root.
	AuthHelper string
	// PAMConfDir, if set, is where AuthHelper finds its PAM service file
	// instead of /etc/pam.d (for tests).
	PAMConfDir string
	// Definitions is the directory of stored definitions whose triggers
	// the host fires (api.DefaultDefinitions); empty schedules nothing.
	Definitions string
	// SlurmBin is the directory of Slurm's commands (empty: PATH).
	// SlurmDir is where jobs on the Slurm location keep their files, on a
	// filesystem the cluster's nodes share with this host (default
	// Home/slurm). HostBinary is bgjobd, which such jobs run on the nodes
	// (default: this executable), so it must be shared too.
	SlurmBin, SlurmDir, HostBinary string
	// SSH is the ssh client jobs on the SSH location run through (empty:
	// ssh on PATH).
	SSH string

	// startHook, if set (this package's tests), runs while a job's start
	// is being recorded (runner.Config.StartHook).
	startHook func(id uint64)
}

// Defaults for Options.
const (
	DefaultMaxRunning = 16
	DefaultStopGrace  = 2 * time.Second
)

// Host runs jobs. All its methods are safe for concurrent use.
type Host struct {
	opts     Options
	home     *home.Home // the job table on disk, the journal, the cursors
	catalog  *catalog.Catalog
	launcher launch.Launcher
	log      hclog.Logger
	self     Caller // the host process's own user

	// t is the job table, its lock, the queue and the work in flight.
	t *jobs.Table
	// run runs the jobs the queue hands it.
	run *runner.Manager
	// admit turns start requests into plans.
	admit *admit.Admitter
	// ev is the event log and the on-end hooks.
	ev *events.Log

	trig *triggers.Triggers // nil without Options.Definitions

	// locations are where jobs run besides this machine's queue.
	locations locations.Set

	ids *identity.Resolver // whom a job runs as, and may it
}

// Open opens (creating if needed) the host's home and job table. Jobs that
// were running when the previous host stopped are reattached; queued jobs
// are queued again.
func Open(opts Options) (*Host, error) {
	if opts.Home == "" {
		return nil, errorf(ErrBadRequest, "host: Options.Home is empty")
	}
	if opts.System && runtime.GOOS == "windows" {
		return nil, errorf(ErrBadRequest, "the system host is not supported on Windows: there each user runs their own host, and every job runs as that user")
	}
	if opts.MaxRunning <= 0 {
		opts.MaxRunning = DefaultMaxRunning
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if opts.Runtimes == "" {
		opts.Runtimes = catalog.DefaultRoot()
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.SlurmDir == "" {
		opts.SlurmDir = filepath.Join(opts.Home, "slurm")
	}
	if opts.HostBinary == "" {
		opts.HostBinary, _ = os.Executable()
	}
	hm, err := home.Open(opts.Home, opts.System, opts.Logger)
	if err != nil {
		return nil, err
	}
	st, journal, cursors, settings := hm.Store, hm.Journal, hm.Cursors, hm.Settings
	self := identity.Self()
	h := &Host{opts: opts, home: hm, catalog: catalog.Open(opts.Runtimes), log: opts.Logger,
		self: self, launcher: opts.Launcher,
		ids: identity.New(identity.Config{System: opts.System, Self: self, AuthHelper: opts.AuthHelper, PAMConfDir: opts.PAMConfDir, Log: opts.Logger})}
	h.t = jobs.New(jobs.Config{Home: opts.Home, Store: st, Journal: journal, Cursors: cursors, Settings: settings,
		MaxRunning: opts.MaxRunning, Self: self, Log: opts.Logger, Run: func(j *jobs.Job) { h.run.Run(j) },
		Moved: func(j *jobs.Job, from api.State) { h.ev.MovedLocked(j, from) }})
	h.ev = events.Open(events.Config{Path: filepath.Join(opts.Home, "events.log"), Table: h.t, Log: opts.Logger})
	h.locations = locations.New(locations.Config{Table: h.t, SlurmBin: opts.SlurmBin, SlurmDir: opts.SlurmDir, HostBinary: opts.HostBinary,
		SSH: opts.SSH, SSHDir: filepath.Join(opts.Home, "ssh"), StopGrace: opts.StopGrace, Log: opts.Logger})
	if h.launcher == nil {
		h.launcher = launch.NewGoPlugin(launch.Options{RunDir: filepath.Join(opts.Home, "run"), LogDir: h.t.JobsDir(), StateDir: filepath.Join(opts.Home, "procs"),
			NoSpares: opts.NoSpares, Logger: opts.Logger.Named("launch"), Catalog: h.catalog})
	}
	h.admit = admit.New(admit.Config{Catalog: h.catalog, Launcher: h.launcher, JobsDir: h.t.JobsDir(), Log: opts.Logger})
	h.run = runner.New(runner.Config{Table: h.t, Launcher: h.launcher, Catalog: h.catalog, Store: st, Journal: journal, Cursors: cursors,
		Home: opts.Home, StopGrace: opts.StopGrace, Self: self, Log: opts.Logger, StartHook: opts.startHook})
	if err := h.run.Recover(); err != nil {
		h.ev.Close()
		h.t.Close()
		h.launcher.Close()
		hm.Close()
		return nil, err
	}
	h.t.Start()
	h.locations.Follow() // for jobs there the previous host left
	if opts.Definitions != "" {
		h.startTriggers(opts.Definitions)
	}
	return h, nil
}

// Close detaches from running jobs and closes the job table. Runtimes keep
// running their jobs; the next host reattaches to them.
func (h *Host) Close() error {
	h.t.Close()
	h.run.Seal()
	h.ev.Close()
	h.launcher.Close()
	return h.home.Close()
}

// Notices says what went wrong while the host started and was repaired
// (a damaged job table set aside, say), for the user to hear about.
func (h *Host) Notices() []string {
	return append([]string(nil), h.home.Notices...) // set once, by home.Open
}

// Home is the host's home directory.
func (h *Host) Home() string { return h.opts.Home }

// Logger is the host's log.
func (h *Host) Logger() hclog.Logger { return h.log }
