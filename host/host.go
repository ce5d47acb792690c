package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/triggers"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/bgjob/bgjob/host/store"
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
}

// Defaults for Options.
const (
	DefaultMaxRunning = 16
	DefaultStopGrace  = 2 * time.Second
)

// Host runs jobs. All its methods are safe for concurrent use.
type Host struct {
	opts     Options
	store    *store.Store
	journal  *store.Journal // cursors and attach records
	cursors  *store.Cursors
	catalog  *catalog.Catalog
	launcher launch.Launcher
	log      hclog.Logger
	self     Caller // the host process's own user

	// t is the job table, its lock, the queue and the work in flight.
	t *jobs.Table
	// admit turns start requests into plans.
	admit *admit.Admitter

	// mu guards what follows.
	mu      sync.Mutex
	notices []string // what the user must hear about this host's start

	trig *triggers.Triggers // nil without Options.Definitions

	slurm *slurm.Client
	// slurmActive is Slurm's last answer about the active jobs, at
	// slurmAsked; the Slurm poller alone uses them.
	slurmActive map[string]slurm.JobState
	slurmAsked  time.Time
	// slurmFollowing: the Slurm poller runs; guarded by mu.
	slurmFollowing bool

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
	// The folders above the home first: a home created in a folder
	// someone else may write could be swapped for theirs at once.
	if err := api.CheckHomeParents(opts.Home); err != nil {
		return nil, withKind(ErrBadRequest, err)
	}
	if err := os.MkdirAll(opts.Home, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", opts.Home, err)
	}
	// The home holds the socket: only its owner may reach it, and a home
	// someone else prepared is refused before anything is written there.
	if err := api.CheckHome(opts.Home); err != nil {
		return nil, withKind(ErrBadRequest, err)
	}
	// A system host's jobs run as their users, who must reach their own
	// socket directories and runtime logs inside (but list nothing).
	perm := os.FileMode(0o700)
	if opts.System {
		perm = 0o711
	}
	for _, d := range []string{opts.Home, filepath.Join(opts.Home, "jobs"), filepath.Join(opts.Home, "run")} {
		if err := os.MkdirAll(d, perm); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", d, err)
		}
		if err := os.Chmod(d, perm); err != nil {
			return nil, err
		}
	}
	// The launcher's own directory (see launch.Options.StateDir) is the
	// host's alone, on every host.
	if err := os.MkdirAll(filepath.Join(opts.Home, "procs"), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", filepath.Join(opts.Home, "procs"), err)
	}
	if err := os.Chmod(filepath.Join(opts.Home, "procs"), 0o700); err != nil {
		return nil, err
	}
	var notices []string
	dbPath := filepath.Join(opts.Home, "jobs.db")
	st, err := store.Open(dbPath)
	if errors.Is(err, store.ErrLocked) {
		return nil, errorf(ErrHostRunning, "another bgjob host is already running on %s", opts.Home)
	}
	if errors.Is(err, store.ErrCorrupt) {
		// One damaged table must not keep every job from being served:
		// it is set aside, never deleted, and the user is told.
		aside, aerr := store.SetAside(dbPath)
		if aerr != nil {
			return nil, fmt.Errorf("%w; %w", err, aerr)
		}
		notices = append(notices, fmt.Sprintf("the job table was damaged (%v); it was set aside as %s and a fresh one started, so the jobs it held are not listed", err, aside))
		opts.Logger.Error("the job table was damaged; set aside", "err", err, "as", aside)
		st, err = store.Open(dbPath)
	}
	if err != nil {
		return nil, err
	}
	// Scripts and tests find the host by this file; the store's lock, not
	// the file, is what keeps a second host out.
	pidFile := filepath.Join(opts.Home, "host.pid")
	if err := atomicfile.Write(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		st.Close()
		return nil, err
	}
	journal, err := store.OpenJournal(filepath.Join(opts.Home, "journal"))
	if err != nil {
		st.Close()
		return nil, err
	}
	cursors := store.OpenCursors(journal, filepath.Join(opts.Home, "cursors"))
	settings, err := st.Settings()
	if err != nil {
		// Unreadable settings must not keep the jobs from being served:
		// the defaults apply, and the user hears of it.
		notices = append(notices, fmt.Sprintf("%v; the queue's limits and clean-up policy are the defaults until 'bgjob queue' sets them again", err))
		settings = store.Settings{}
	}
	self := identity.Self()
	h := &Host{opts: opts, store: st, journal: journal, cursors: cursors, notices: notices, catalog: catalog.Open(opts.Runtimes), log: opts.Logger,
		self: self, launcher: opts.Launcher,
		slurm: &slurm.Client{Bin: opts.SlurmBin},
		ids:   identity.New(identity.Config{System: opts.System, Self: self, AuthHelper: opts.AuthHelper, PAMConfDir: opts.PAMConfDir, Log: opts.Logger})}
	h.t = jobs.New(jobs.Config{Home: opts.Home, Store: st, Journal: journal, Cursors: cursors, Settings: settings,
		MaxRunning: opts.MaxRunning, Self: self, Log: opts.Logger, Run: h.run})
	if h.launcher == nil {
		h.launcher = launch.NewGoPlugin(launch.Options{RunDir: h.runDir(), LogDir: h.t.JobsDir(), StateDir: filepath.Join(opts.Home, "procs"),
			NoSpares: opts.NoSpares, Logger: opts.Logger.Named("launch")})
	}
	h.admit = admit.New(admit.Config{Catalog: h.catalog, Launcher: h.launcher, JobsDir: h.t.JobsDir(), Log: opts.Logger})
	if err := h.recover(); err != nil {
		h.t.Close()
		h.launcher.Close()
		journal.Close()
		st.Close()
		os.Remove(pidFile)
		return nil, err
	}
	h.t.Lock()
	h.t.ScheduleLocked()
	h.t.Unlock()
	h.t.Cleanup()
	h.t.Go(h.t.CleanupLoop)
	h.t.Lock()
	h.followSlurmLocked() // for jobs on Slurm the previous host left
	h.t.Unlock()
	if opts.Definitions != "" {
		h.startTriggers(opts.Definitions)
	}
	return h, nil
}

// Close detaches from running jobs and closes the job table. Runtimes keep
// running their jobs; the next host reattaches to them.
func (h *Host) Close() error {
	h.t.Close()
	h.launcher.Close()
	h.journal.Close()
	_ = os.Remove(filepath.Join(h.opts.Home, "host.pid"))
	return h.store.Close()
}

// Notices says what went wrong while the host started and was repaired
// (a damaged job table set aside, say), for the user to hear about.
func (h *Host) Notices() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.notices...)
}

// Home is the host's home directory.
func (h *Host) Home() string { return h.opts.Home }

// Logger is the host's log.
func (h *Host) Logger() hclog.Logger { return h.log }

func (h *Host) runDir() string { return filepath.Join(h.opts.Home, "run") }
