package runner

import (
	"time"

	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/store"
	"github.com/hashicorp/go-hclog"
)

// Config is what the runners need of the host around them.
type Config struct {
	Table    *jobs.Table
	Launcher launch.Launcher
	Catalog  *catalog.Catalog
	// Store, Journal and Cursors are the job table on disk and where
	// records and runtimes stand between its writes; Recover reads them.
	Store   *store.Store
	Journal *store.Journal
	Cursors *store.Cursors
	// Home is the host's home (named in messages about its journal).
	Home string
	// StopGrace is how long a stopped job's processes get to end before
	// they are killed.
	StopGrace time.Duration
	// Self is the host process's own user: a row too damaged to say whose
	// it was is theirs.
	Self identity.Caller
	Log  hclog.Logger
	// StartHook, if set (tests only), runs while a job's start is being
	// recorded: its attach record written, not yet made durable.
	StartHook func(id uint64)
}

// Manager runs the jobs the queue hands it (Run), one task per running
// job: launch, relay, outcome, release. It stops, suspends and resumes
// running jobs, and takes back, when a host starts, the jobs its
// predecessor left running (Recover).
type Manager struct {
	t        *jobs.Table
	launcher launch.Launcher
	catalog  *catalog.Catalog
	store    *store.Store
	journal  *store.Journal
	cursors  *store.Cursors
	log      hclog.Logger
	cfg      Config
	started  startMarks // see started.go
}

// New returns a Manager; the table's Config.Run is its Run.
func New(cfg Config) *Manager {
	return &Manager{t: cfg.Table, launcher: cfg.Launcher, catalog: cfg.Catalog, store: cfg.Store, journal: cfg.Journal,
		cursors: cfg.Cursors, log: cfg.Log, cfg: cfg}
}

// task is one running job and its runtime process: the relay, the outcome
// and the release are its methods, each knowing whose they are.
type task struct {
	m *Manager
	j *jobs.Job
	p launch.Process
	// kept is the job's records, kept for its row with its end, and
	// keptLast the last sequence number they cover (see relay, keptLocked).
	kept     []byte
	keptLast uint64
	// run is the run of the job relay asked for (its acknowledgements
	// name it).
	run protocol.RunID
}

func (m *Manager) task(j *jobs.Job, p launch.Process) *task { return &task{m: m, j: j, p: p} }
