package jobs

import (
	"context"
	"iter"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/store"
	"github.com/hashicorp/go-hclog"
)

// Config is what a Table needs of the host around it.
type Config struct {
	// Home is the host's home: the jobs' files are in Home/jobs.
	Home string
	// Store is the job table on disk, Journal and Cursors where records
	// stand between writes of a row.
	Store   *store.Store
	Journal *store.Journal
	Cursors *store.Cursors
	// Settings are the queue's limits and clean-up policy as stored.
	Settings store.Settings
	// MaxRunning is the default group's limit until one is set.
	MaxRunning int
	// Self is the host process's own user.
	Self identity.Caller
	Log  hclog.Logger
	// Run takes a job the queue has made Running (its slot taken); it
	// runs in a goroutine of its own, which Close waits for. This is the
	// seam between the queue and the runners.
	Run func(*Job)
	// Moved, if set, hears of every change of a job's state, with the
	// table's lock held, once the row says the new state (a finished
	// job's reason and exit code included): the events and on-end hooks.
	Moved func(j *Job, from api.State)
}

// Table is the job table: every job the host holds, the one lock that
// guards them (see Lock), the queue's slots and the instance index. Every
// change of a job's state goes through it (see MoveLocked). It also owns
// the work in flight for its jobs: goroutines started with Go, which Close
// waits for.
type Table struct {
	cfg     Config
	store   *store.Store
	journal *store.Journal
	cursors *store.Cursors
	log     hclog.Logger
	self    identity.Caller

	ctx    context.Context // cancelled by Close: relays detach, runtimes go on
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the jobs (each job's row and runtime), the queue's counts
	// and the instance index.
	mu       sync.Mutex
	jobs     map[uint64]*Job
	running  map[string]int          // running jobs, by group
	slots    map[string]map[int]bool // the slots taken, by group ($BGJOB_SLOT)
	threads  map[string]int          // running thread jobs, by threadKey
	settings store.Settings          // what `bgjob queue` set; changed under settingsMu too
	// instances indexes jobs by instance id (see instance.go); nil marks
	// an id whose job is being created.
	instances  map[string]*Job
	runs       map[runsKey]map[*Job]struct{} // stored definitions' runs (see definitions.go)
	tombs      tombs                         // jobs removed soon after they were made (see tomb.go)
	settingsMu sync.Mutex
	// pending are the jobs waiting to run (NotStarted, or suspended in
	// the queue), so that the queue and dependencies look at them and not
	// at every finished job the table holds; maxID is the largest id.
	// Both follow the table's jobs (see trackLocked).
	pending map[*Job]struct{}
	maxID   uint64
	// lanes order the pending jobs for the queue's look; timed,
	// dependents and recheck are the gated ones it looks at (see
	// lanes.go). They follow the pending set.
	lanes      map[string]*lane
	timed      timedJobs
	dependents map[uint64]map[*Job]struct{}
	recheck    map[*Job]struct{}
	fresh      []*Job // marked during the gate checks under way (gating; see markLocked)
	loading    bool   // PublishLocked is filling the lanes: they are sorted after
	// begun is set once the table's work has begun (Start); looking
	// while a look of the queue (ScheduleLocked) is under way, gating
	// while its gate checks are (checkGatesLocked).
	begun, looking, gating bool
	// batches are the batch parents with children waiting to run: a
	// batch's waiting children are kept by their parent (kidQueue), not
	// in pending, so that the queue's look costs the same whatever the
	// batch's size (see foreach.go).
	batches map[*Job]struct{}
	// wake is the queue's timer, set for wakeAt: the earliest time a
	// queued job waits for (see later.go).
	wake   interface{ Stop() bool }
	wakeAt time.Time
	// wakeGen counts the timers armed: a timer's wakeUp tells whether it
	// is the one armed now.
	wakeGen uint64
	clock   clock

	batchPayloads payloadCache // the last batch's payload (payload.go)
}

// New returns an empty table; Load fills it.
func New(cfg Config) *Table {
	t := &Table{cfg: cfg, store: cfg.Store, journal: cfg.Journal, cursors: cfg.Cursors, log: cfg.Log, self: cfg.Self,
		jobs: map[uint64]*Job{}, instances: map[string]*Job{}, running: map[string]int{}, slots: map[string]map[int]bool{}, threads: map[string]int{}, settings: cfg.Settings,
		pending: map[*Job]struct{}{}, lanes: map[string]*lane{}, dependents: map[uint64]map[*Job]struct{}{}, recheck: map[*Job]struct{}{}, batches: map[*Job]struct{}{}, clock: realClock()}
	if t.log == nil {
		t.log = hclog.NewNullLogger()
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

// Lock takes the table's lock, which guards every job's row and runtime;
// methods named ...Locked want it held.
func (t *Table) Lock() { t.mu.Lock() }

// Unlock releases the table's lock.
func (t *Table) Unlock() { t.mu.Unlock() }

// Ctx is cancelled when the table closes: the work for its jobs stops
// (runtimes go on; the next host reattaches).
func (t *Table) Ctx() context.Context { return t.ctx }

// Close stops the work in flight and waits for it, then closes the jobs'
// logs. The store is the caller's to close.
func (t *Table) Close() {
	t.cancel()
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armLocked(time.Time{})
	for _, j := range t.jobs {
		if j.Log != nil {
			j.Log.Close()
		}
	}
}

// Go runs f in a goroutine that Close waits for.
func (t *Table) Go(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// Get is the job with id, or nil.
func (t *Table) Get(id uint64) *Job {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.jobs[id]
}

// GetLocked is Get with the lock held.
func (t *Table) GetLocked(id uint64) *Job { return t.jobs[id] }

// AllLocked yields every job, in no order.
func (t *Table) AllLocked() iter.Seq[*Job] {
	return func(yield func(*Job) bool) {
		for _, j := range t.jobs {
			if !yield(j) {
				return
			}
		}
	}
}

// JobsDir is where the jobs' files are.
func (t *Table) JobsDir() string { return filepath.Join(t.cfg.Home, "jobs") }

// LogPath is job id's record log.
func (t *Table) LogPath(id uint64) string {
	return filepath.Join(t.JobsDir(), strconv.FormatUint(id, 10)+".log")
}

// RuntimeLogPath is the log of job id's runtime process.
func (t *Table) RuntimeLogPath(id uint64) string {
	return filepath.Join(t.JobsDir(), strconv.FormatUint(id, 10)+".runtime.log")
}

// PublishLocked makes loaded the table's jobs (see Load).
func (t *Table) PublishLocked(loaded map[uint64]*Job) {
	t.jobs = loaded
	t.runs = nil // indexed again below, with every job
	t.pending, t.batches = map[*Job]struct{}{}, map[*Job]struct{}{}
	t.lanes, t.timed, t.dependents, t.recheck = map[string]*lane{}, nil, map[uint64]map[*Job]struct{}{}, map[*Job]struct{}{}
	// A job may have moved before the table was published (a host taking
	// back its predecessor's jobs fails some, and a retry queues them
	// again), tracked then in maps now replaced: track every job afresh.
	for _, j := range loaded {
		j.queued, j.batch, j.kids, j.lane, j.gated, j.deps, j.timedIdx = false, nil, nil, nil, false, nil, 0
	}
	// The lanes are put in order once, at the end: inserting a big
	// queue's jobs one by one, in the map's order, would cost the square
	// of its size.
	t.loading = true
	for _, j := range loaded {
		t.IndexLocked(j)
		t.trackLocked(j)
	}
	t.loading = false
	t.sortLanesLocked()
	t.settleBatchesLocked(loaded)
}

// trackLocked keeps the pending set (or, for a batch's child, its
// batch's queue) and maxID up to date with j, which is in the table (or
// was just put there, or has just moved, or was removed).
func (t *Table) trackLocked(j *Job) {
	t.maxID = max(t.maxID, j.Row.ID)
	t.moveTellsLocked(j)
	// A batch's parent runs nothing: its children wait in its stead.
	s := j.Row.State
	waits := (s == api.NotStarted || s == api.Suspended) && !j.Removed && !IsBatchParent(&j.Row)
	if waits == j.queued {
		return
	}
	j.queued = waits
	p := j.batch
	if waits && p == nil {
		p = t.batchOfLocked(j)
	}
	if p == nil {
		if waits {
			t.pending[j] = struct{}{}
			t.enlaneLocked(j)
		} else {
			delete(t.pending, j)
			t.delaneLocked(j)
		}
		return
	}
	q := p.kidQueue()
	if waits {
		q.queued++
		q.next = min(q.next, kidIndex(p, j))
		t.batches[p] = struct{}{}
	} else if q.queued--; q.queued <= 0 {
		q.queued = 0
		delete(t.batches, p)
	}
}

// Busy reports whether a job is unfinished or being drained by a receive.
func (t *Table) Busy() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, j := range t.jobs {
		if !j.Row.State.Finished() || j.Draining > 0 {
			return true
		}
	}
	return false
}

// OnEndLocked is the command run when any job ends (queue --on-end).
func (t *Table) OnEndLocked() string { return t.settings.OnEnd }

// GroupDoneLocked reports whether no job of j's group but j is
// unfinished (j being the last of its group to end).
func (t *Table) GroupDoneLocked(j *Job) bool {
	g := j.Row.GroupOf()
	for _, k := range t.jobs {
		if k != j && !k.Removed && !k.Row.State.Finished() && k.Row.GroupOf() == g {
			return false
		}
	}
	return true
}
