package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/hashicorp/go-hclog"
)

// Options configure a Host.
type Options struct {
	// Home holds the job table, record logs and sockets.
	Home string
	// Runtimes is the catalog root; empty means catalog.DefaultRoot().
	Runtimes string
	// MaxRunning bounds the runtimes running at once; more jobs wait as
	// NotStarted rows. Zero means DefaultMaxRunning.
	MaxRunning int
	// StopGrace is how long a stopped job's processes get to end before
	// they are killed. Zero means DefaultStopGrace.
	StopGrace time.Duration
	// Logger receives the host's own log; nil discards it.
	Logger hclog.Logger
	// NoSpares turns off starting runtimes ahead of need (see spare.go).
	NoSpares bool
}

// Defaults for Options.
const (
	DefaultMaxRunning = 16
	DefaultStopGrace  = 2 * time.Second
)

// Host runs jobs. All its methods are safe for concurrent use.
type Host struct {
	opts    Options
	store   *store
	catalog *catalog.Catalog
	log     hclog.Logger
	user    string

	ctx    context.Context // cancelled by Close: relays detach, runtimes go on
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	jobs    map[uint64]*job
	running int
	spares  map[string]*spare // by spareKey; nil while one starts
}

// job is a row plus what the host holds for it while it lives.
type job struct {
	row     row           // guarded by Host.mu
	changed chan struct{} // closed and replaced on every change; guarded by Host.mu
	log     *recordLog
	recvMu  sync.Mutex // one draining receive at a time
	// persistMu orders writes of this job's row; taken before Host.mu.
	persistMu sync.Mutex
	rt        *launched     // the runtime while the job runs; guarded by Host.mu
	waiter    chan *handoff // a caught-up draining receiver; guarded by Host.mu
	logFile   *os.File
}

// Open opens (creating if needed) the host's home and job table. Jobs that
// were running when the previous host stopped are reattached; queued jobs
// are queued again.
func Open(opts Options) (*Host, error) {
	if opts.Home == "" {
		return nil, errors.New("host: Options.Home is empty")
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
	for _, d := range []string{opts.Home, filepath.Join(opts.Home, "jobs"), filepath.Join(opts.Home, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", d, err)
		}
	}
	// The home holds the socket: only its owner may reach it.
	if err := os.Chmod(opts.Home, 0o700); err != nil {
		return nil, err
	}
	st, err := openStore(filepath.Join(opts.Home, "jobs.db"))
	if errors.Is(err, errLocked) {
		return nil, api.Errorf(api.ExitConflict, "another bgjob host is already running on %s", opts.Home)
	}
	if err != nil {
		return nil, err
	}
	// Scripts and tests find the host by this file; the store's lock, not
	// the file, is what keeps a second host out.
	pidFile := filepath.Join(opts.Home, "host.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		st.close()
		return nil, err
	}
	h := &Host{opts: opts, store: st, catalog: catalog.Open(opts.Runtimes), log: opts.Logger,
		jobs: map[uint64]*job{}, spares: map[string]*spare{}, user: currentUser()}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if err := h.recover(); err != nil {
		st.close()
		return nil, err
	}
	h.mu.Lock()
	h.scheduleLocked()
	h.mu.Unlock()
	return h, nil
}

// Close detaches from running jobs and closes the job table. Runtimes keep
// running their jobs; the next host reattaches to them.
func (h *Host) Close() error {
	h.cancel()
	h.wg.Wait()
	h.closeSpares()
	h.mu.Lock()
	for _, j := range h.jobs {
		if j.log != nil {
			j.log.close()
		}
		if j.logFile != nil {
			j.logFile.Close()
		}
	}
	h.mu.Unlock()
	_ = os.Remove(filepath.Join(h.opts.Home, "host.pid"))
	return h.store.close()
}

// Catalog is the runtime catalog the host resolves runtimes in.
func (h *Host) Catalog() *catalog.Catalog { return h.catalog }

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (h *Host) logPath(id uint64) string {
	return filepath.Join(h.opts.Home, "jobs", strconv.FormatUint(id, 10)+".log")
}

func (h *Host) runtimeLogPath(id uint64) string {
	return filepath.Join(h.opts.Home, "jobs", strconv.FormatUint(id, 10)+".runtime.log")
}

func (h *Host) sockDir(id uint64) string {
	return filepath.Join(h.opts.Home, "run", strconv.FormatUint(id, 10))
}

// notifyLocked wakes everyone waiting on j.
func (j *job) notifyLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// logEndLocked is where the job's record log ends now: the open log knows,
// and the row remembers it for a job loaded from the table.
func (j *job) logEndLocked() int64 {
	if j.log != nil {
		return j.log.Size()
	}
	return j.row.LogSize
}

// view returns the job as a user sees it.
func (j *job) viewLocked() *api.Job {
	v := j.row.Job
	v.HasMoreData = !v.State.Finished() || j.logEndLocked() > j.row.ReadOffset
	return &v
}

// recover loads the job table and puts each job back to work.
func (h *Host) recover() error {
	rows, err := h.store.all()
	if err != nil {
		return fmt.Errorf("cannot read the job table: %w", err)
	}
	var changed []*row
	for _, r := range rows {
		j := &job{row: *r, changed: make(chan struct{})}
		h.jobs[r.ID] = j
		if r.State.Finished() {
			continue
		}
		// The log may hold more than the row says, and a torn tail.
		size, last, err := scanLog(h.logPath(r.ID))
		if err != nil {
			return err
		}
		j.row.LogSize, j.row.LastSeq = size, last
		if j.log, err = createLog(h.logPath(r.ID), size); err != nil {
			return err
		}
		att, _ := readAttach(h.sockDir(r.ID))
		switch {
		case att == nil && r.State == api.NotStarted:
			// Queued, or its runtime never got the job: queued again.
		case att == nil:
			h.finishLocked(j, api.Failed, "the host stopped before the job's runtime had started", nil)
			changed = append(changed, &j.row)
		default:
			j.row.State = api.Running
			j.row.PSBeginTime = att.Begin
			l, err := reconnect(att, h.jobLogger(j))
			if err != nil {
				// A runtime we cannot talk to would wait an hour for a
				// host before giving up; end it now.
				killStray(att.Pid, r.Spec.Runtime)
				h.finishLocked(j, api.Failed, fmt.Sprintf("the host stopped while the job ran, and its runtime could not be reattached (%v); the records it sent before (up to number %d) are kept", err, last), nil)
				changed = append(changed, &j.row)
				continue
			}
			h.log.Info("reattached to a running job", "job", r.ID, "pid", att.Pid, "after", last)
			j.rt = l
			h.running++
			h.wg.Add(1)
			go h.relay(j, l, last)
		}
	}
	h.sweep()
	if len(changed) > 0 {
		return h.store.put(changed...)
	}
	return nil
}

// sweep removes what a host that was killed left behind: directories of
// spares nobody took, their logs, and socket directories of jobs that are
// finished or gone. A spare's directory that a running job uses (its attach
// record says so) stays.
func (h *Host) sweep() {
	inUse := map[string]bool{}
	for id, j := range h.jobs {
		if j.row.State.Finished() {
			continue
		}
		inUse[h.sockDir(id)] = true
		if att, err := readAttach(h.sockDir(id)); err == nil {
			inUse[att.SockDir] = true
		}
	}
	run := filepath.Join(h.opts.Home, "run")
	entries, _ := os.ReadDir(run)
	for _, e := range entries {
		if dir := filepath.Join(run, e.Name()); !inUse[dir] {
			os.RemoveAll(dir)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(h.opts.Home, "jobs", "spare*.runtime.log"))
	for _, l := range logs {
		os.Remove(l)
	}
}

func (h *Host) jobLogger(j *job) hclog.Logger {
	lg, f, err := jobLogger(h.runtimeLogPath(j.row.ID))
	if err != nil {
		h.log.Warn("cannot open the job's runtime log", "job", j.row.ID, "err", err)
		return h.log.Named(fmt.Sprintf("job%d", j.row.ID))
	}
	j.logFile = f
	return lg
}

// scheduleLocked starts queued jobs while there is room.
func (h *Host) scheduleLocked() {
	if h.ctx.Err() != nil {
		return
	}
	var queued []*job
	for _, j := range h.jobs {
		if j.row.State == api.NotStarted && j.rt == nil {
			queued = append(queued, j)
		}
	}
	sort.Slice(queued, func(a, b int) bool { return queued[a].row.ID < queued[b].row.ID })
	for _, j := range queued {
		if h.running >= h.opts.MaxRunning {
			return
		}
		h.running++
		j.row.State = api.Running
		now := time.Now()
		j.row.PSBeginTime = &now
		j.notifyLocked()
		h.wg.Add(1)
		go h.launch(j)
	}
}

// launch starts j's runtime and relays its records.
func (h *Host) launch(j *job) {
	h.mu.Lock()
	r := j.row
	h.mu.Unlock()
	fail := func(reason string) {
		defer h.wg.Done()
		h.mu.Lock()
		h.running--
		failed := j.row.State == api.Running // not stopped meanwhile
		if failed {
			h.finishLocked(j, api.Failed, reason, nil)
		}
		h.scheduleLocked()
		h.mu.Unlock()
		if failed {
			h.persist(j)
		}
	}
	if err := h.checkRuntime(&r); err != nil {
		fail(err.Error())
		return
	}
	if fi, err := os.Stat(r.Workdir); err != nil || !fi.IsDir() {
		fail(fmt.Sprintf("the working directory %s is gone", r.Workdir))
		return
	}
	var l *launched
	if sp := h.takeSpare(spareKey(r.Spec.Runtime, r.Spec.SHA256)); sp != nil {
		// The spare's log becomes the job's.
		if err := os.Rename(sp.logPath, h.runtimeLogPath(r.ID)); err != nil {
			h.log.Warn("cannot move the spare's log", "err", err)
		}
		h.mu.Lock()
		j.logFile = sp.logFile
		h.mu.Unlock()
		l = sp.l
	} else {
		var err error
		l, err = launch(&launchConfig{Binary: r.Spec.Runtime, Workdir: r.Workdir, SockDir: h.sockDir(r.ID),
			LogFile: h.runtimeLogPath(r.ID), Logger: h.jobLogger(j)})
		if err != nil {
			fail(err.Error())
			return
		}
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.refillSpare(r.Spec.Runtime, r.Spec.SHA256)
	}()
	h.mu.Lock()
	if j.row.State != api.Running {
		// Stopped while the runtime was starting.
		h.mu.Unlock()
		h.release(j, l)
		h.wg.Done()
		return
	}
	j.rt = l
	var att *reattach
	if l.reattach != nil {
		a := *l.reattach
		a.Begin = j.row.PSBeginTime
		att = &a
	}
	h.mu.Unlock()
	// How to find the runtime again goes beside its socket, not into the
	// job table: a file in the page cache survives the host being killed
	// as well, without the table's two fsyncs on every job's start.
	if err := writeAttach(h.sockDir(r.ID), att); err != nil {
		h.log.Warn("cannot record how to reattach to the job's runtime", "job", r.ID, "err", err)
	}
	h.relay(j, l, 0)
}

// checkRuntime verifies the job's runtime binary before launch. The entry
// Start resolved is checked first, which costs a stat while the catalog's
// verification cache holds; only if that fails (the runtime was reinstalled
// or removed meanwhile) is the catalog listed again.
func (h *Host) checkRuntime(r *row) error {
	e := &catalog.Entry{Path: r.Spec.Runtime, Manifest: catalog.Manifest{Name: r.Runtime.Name,
		Version: r.Runtime.Version, OS: r.Runtime.OS, Arch: r.Runtime.Arch, SHA256: r.Spec.SHA256}}
	if h.catalog.Verify(e) == nil {
		return nil
	}
	entries, err := h.catalog.List()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Path == r.Spec.Runtime {
			return h.catalog.Verify(e)
		}
	}
	return fmt.Errorf("the runtime %s %s (%s) is no longer installed", r.Runtime.Name, r.Runtime.Version, r.Spec.Runtime)
}

// finishLocked moves j to a finished state. code is the exit code, if any.
func (h *Host) finishLocked(j *job, state api.State, reason string, code *int) {
	now := time.Now()
	j.row.State = state
	j.row.StateReason = reason
	j.row.ExitCode = code
	j.row.PSEndTime = &now
	if j.row.PSBeginTime == nil {
		j.row.PSBeginTime = &now
	}
	j.row.LogSize = j.logEndLocked()
	if j.log != nil {
		_ = j.log.close() // a no-op when the relay closed it already
	}
	j.notifyLocked()
}

// persist writes j's row as it is now. The write (a bbolt transaction,
// fsynced) happens outside Host.mu, so one job's state change does not hold
// up every other; j.persistMu keeps writes of one job in the order their
// copies were taken, so the last write is the newest state. A failure is
// logged: the table in memory stays right and the next write catches up.
func (h *Host) persist(j *job) {
	j.persistMu.Lock()
	defer j.persistMu.Unlock()
	h.mu.Lock()
	if _, ok := h.jobs[j.row.ID]; !ok {
		h.mu.Unlock()
		return // removed
	}
	j.row.LogSize = j.logEndLocked()
	r := j.row
	h.mu.Unlock()
	if err := h.store.put(&r); err != nil {
		h.log.Error("cannot persist job", "job", r.ID, "err", err)
	}
}

// hostRuntime names the host's platform for resolution.
func hostRuntime() (goos, goarch string) { return runtime.GOOS, runtime.GOARCH }
