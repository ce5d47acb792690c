// Package events keeps the host's event log, every change of a job's state
// numbered in order, which `bgjob events` streams and resumes from, and
// runs the on-end hooks when a job ends.
//
// The log is a file of JSON lines in the host's home (events.log). An
// event is appended (written, not synced) with the table's lock held, in
// the same step as the change it tells of, so the log and the table agree:
// a host killed with -9 loses nothing written, as the kernel has it. A
// finished job's event carries the hooks due for it; a line {"ran": SEQ}
// says they were started. A host that starts runs the hooks due and not
// started, once: the mark is written before a hook runs, so a host killed
// while a hook runs does not run it again.
//
// The log is bounded: past 2*Keep events the file is rewritten with the
// newest Keep (and any event whose hooks are still due).
package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/store"
	"github.com/hashicorp/go-hclog"
)

// DefaultKeep is how many events the log keeps at least.
const DefaultKeep = 10000

// Record is one line of the log: an event, or (Ran set) the mark that the
// hooks of event Ran were started.
type Record struct {
	api.Event
	// Owner is the job's owner: only they and root see the event.
	Owner uint32 `json:"Owner"`
	// Hook is what runs because the job ended, if anything does.
	Hook *Hook  `json:"Hook,omitempty"`
	Ran  uint64 `json:"Ran,omitempty"`
}

// Hook is what a job's end runs: its own --on-end and the host's, as the
// job's user in its working directory.
type Hook struct {
	Commands []string        `json:"Commands"`
	Dir      string          `json:"Dir"`
	RunAs    *store.Identity `json:"RunAs,omitempty"`
	// User is RunAs's name, whose groups the hook takes as it runs.
	User string `json:"User,omitempty"`
	// GroupDone: the job was the last unfinished job of its group.
	GroupDone bool `json:"GroupDone,omitempty"`
}

// Config is what the log needs of the host around it.
type Config struct {
	// Path is the log's file; Keep how many events it keeps at least
	// (0: DefaultKeep).
	Path string
	Keep int
	// Table is the job table: the selection, and whether a group is done.
	Table *jobs.Table
	// Timeout bounds each hook (0: DefaultTimeout).
	Timeout time.Duration
	Log     hclog.Logger
	// manual leaves the due hooks to the caller (next, run): for tests.
	manual bool
}

// Log is the event log and the hooks' runner.
type Log struct {
	cfg Config
	log hclog.Logger

	// mu guards what follows; it is taken with the table's lock held
	// (never the other way round).
	mu      sync.Mutex
	f       *os.File // nil when the file could not be opened: events then live in memory only
	seq     uint64
	recent  []Record          // the newest events, at most 2*Keep
	due     map[uint64]Record // events whose hooks have not been started
	queue   []uint64          // due hooks in the order the jobs ended
	lines   int               // lines in the file
	partial bool              // the file ends in the middle of a line (see load)
	changed chan struct{}     // closed and replaced on every event
	// last is each job's state as the log told it when the host started,
	// until the job moves. A host killed after an event was logged and
	// before the job's row was written finds the row older than the log:
	// the recovery's moves from it (found running, then ended) replay
	// what the log told, and are not told (nor their hooks run) again.
	last   map[uint64]api.State
	wake   chan struct{} // the hook runner has work
	closed bool
	// compacting says a rewrite of the file runs (see startCompactLocked);
	// compactDone is closed when it has ended.
	compacting  bool
	compactDone chan struct{}
	// beforeSwap, if set (tests), runs in a rewrite once its file is
	// written and synced, before it takes what was appended meanwhile.
	beforeSwap func()
	running    bool // a hook runs

	stop chan struct{}
	done chan struct{}
}

// Open reads the log at cfg.Path (creating it) and starts the hook runner,
// which runs the hooks a previous host left due. A log that cannot be
// read or written is logged and the host goes on with events in memory:
// the jobs matter more than their history.
func Open(cfg Config) *Log {
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	l := &Log{cfg: cfg, log: cfg.Log.Named("events"), due: map[uint64]Record{}, changed: make(chan struct{}), last: map[uint64]api.State{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.load(); err != nil {
		l.log.Error("cannot read the event log; events start again from here", "path", cfg.Path, "err", err)
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		l.log.Error("cannot open the event log; events are kept in memory only", "path", cfg.Path, "err", err)
	} else {
		l.f = f
	}
	if cfg.manual {
		close(l.done)
		return l
	}
	go l.runHooks()
	if len(l.queue) > 0 {
		l.wake <- struct{}{}
	}
	return l
}

// load reads the file: the last sequence number, the newest events and
// the hooks due. A line that cannot be read (the torn end of a write the
// host was killed in) is skipped.
func (l *Log) load() error {
	b, err := os.ReadFile(l.cfg.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// The file may end in the middle of a line: a host killed mid-write,
	// a write the disk had no room for, or zeros where a power loss took
	// what was written. The next write ends that line first (partial), so
	// that the event it carries is not glued to the torn bytes and lost
	// with them.
	l.partial = len(b) > 0 && b[len(b)-1] != '\n'
	for rest := b; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			l.log.Warn("skipped a damaged line of the event log", "err", err)
			continue
		}
		l.lines++
		if r.Ran != 0 {
			delete(l.due, r.Ran)
			continue
		}
		l.seq = max(l.seq, r.Seq)
		l.recent = append(l.recent, r)
		l.last[r.JobID] = r.To
		if r.Hook != nil {
			l.due[r.Seq] = r
		}
	}
	if len(l.recent) > l.cfg.Keep {
		l.recent = append([]Record(nil), l.recent[len(l.recent)-l.cfg.Keep:]...)
	}
	for _, r := range l.recent {
		if _, ok := l.due[r.Seq]; ok {
			l.queue = append(l.queue, r.Seq)
		}
	}
	// A due event older than the ones kept in memory (rewritten into
	// the file for its hooks) goes first.
	for seq := range l.due {
		if len(l.recent) == 0 || seq < l.recent[0].Seq {
			l.queue = append([]uint64{seq}, l.queue...)
		}
	}
	return nil
}

// MovedLocked records that j moved from a state to the one its row says
// now; the table's lock is held (jobs.Config.Moved). A job that ended gets
// its hooks queued.
func (l *Log) MovedLocked(j *jobs.Job, from api.State) {
	to := j.Row.State
	l.mu.Lock()
	told, ok := l.last[j.Row.ID]
	if ok && (from == told || to == told || !told.Finished() || to.Finished()) {
		delete(l.last, j.Row.ID)
	}
	l.mu.Unlock()
	switch {
	case !ok || from == told:
		// The row and the log agree: the usual case.
	case to == told:
		return // a replay by a host whose row was older than the log, caught up
	case told.Finished() && !to.Finished():
		return // the log told the job's end: this is a replay on the way to it
	default:
		from = told // the change is from what the log last told
	}
	l.record(j, from)
}

// record appends the event of j's move from a state to the one its row
// says now, with its hooks if it ended; the table's lock is held.
func (l *Log) record(j *jobs.Job, from api.State) {
	to := j.Row.State
	r := Record{Event: api.Event{Time: time.Now().UTC(), JobID: j.Row.ID, Name: j.Row.Name, Group: j.Row.GroupOf(),
		From: from, To: to}, Owner: j.Row.OwnerUID}
	if to.Finished() {
		r.Reason, r.ExitCode = j.Row.StateReason, j.Row.ExitCode
		var cmds []string
		for _, c := range []string{j.Row.OnEnd, l.cfg.Table.OnEndLocked()} {
			if c != "" {
				cmds = append(cmds, c)
			}
		}
		if len(cmds) > 0 && !j.Retrying { // a retried attempt's hooks wait for the last
			r.Hook = &Hook{Commands: cmds, Dir: j.Row.Workdir, RunAs: j.Row.RunAs, User: j.Row.User, GroupDone: l.cfg.Table.GroupDoneLocked(j)}
		}
	}
	l.append(r)
}

// append numbers r, writes it and wakes the streams (and the hook runner
// if r has hooks).
func (l *Log) append(r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	r.Seq = l.seq
	l.write(r)
	l.recent = append(l.recent, r)
	if r.Hook != nil {
		l.due[r.Seq] = r
		l.queue = append(l.queue, r.Seq)
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if len(l.recent) > 2*l.cfg.Keep {
		l.recent = append([]Record(nil), l.recent[len(l.recent)-l.cfg.Keep:]...)
	}
	if l.lines > 2*l.cfg.Keep+len(l.due) && !l.compacting && l.f != nil && !l.closed {
		l.startCompactLocked()
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// write appends one line to the file; l.mu is held.
func (l *Log) write(r Record) {
	if l.f == nil {
		return
	}
	b, err := json.Marshal(r)
	if err == nil {
		line := append(b, '\n')
		if l.partial {
			line = append([]byte{'\n'}, line...)
		}
		_, err = l.f.Write(line)
	}
	if err != nil {
		// Part of the line may be in the file.
		l.partial = true
		l.log.Error("cannot append to the event log", "err", err)
		return
	}
	l.partial = false
	l.lines++
}

// startCompactLocked starts rewriting the file with the newest Keep
// events and those whose hooks are due, in a goroutine: the rewrite and
// its sync took the table's lock with them (l.mu is taken under it) for
// every job's change meanwhile. l.mu is held.
func (l *Log) startCompactLocked() {
	keep := append([]Record(nil), l.recent[max(0, len(l.recent)-l.cfg.Keep):]...)
	var older []Record
	for _, r := range l.due {
		if len(keep) == 0 || r.Seq < keep[0].Seq {
			older = append(older, r)
		}
	}
	slices.SortFunc(older, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	off, err := l.f.Seek(0, io.SeekEnd) // an O_APPEND file's offset is 0 until a write moves it
	if err != nil {
		l.log.Error("cannot shorten the event log", "err", err)
		return
	}
	l.compacting = true
	l.compactDone = make(chan struct{})
	go l.compact(append(older, keep...), off)
}

// compact writes recs to a new file and syncs it, then, l.mu held, adds
// what was appended to the old file after off (the events since; written,
// as every append, without a sync) and puts the new file in its place.
func (l *Log) compact(recs []Record, off int64) {
	defer close(l.compactDone)
	tmp := l.cfg.Path + ".tmp"
	fail := func(err error) {
		os.Remove(tmp)
		l.log.Error("cannot shorten the event log", "err", err)
		l.mu.Lock()
		l.compacting = false
		l.mu.Unlock()
	}
	var buf bytes.Buffer
	for _, r := range recs {
		b, _ := json.Marshal(r)
		buf.Write(append(b, '\n'))
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		fail(err)
		return
	}
	if _, err = f.Write(buf.Bytes()); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		fail(err)
		return
	}
	if l.beforeSwap != nil {
		l.beforeSwap()
	}
	l.mu.Lock()
	tail, err := readFrom(l.cfg.Path, off)
	if err == nil {
		_, err = f.Write(tail)
	}
	if err == nil {
		err = os.Rename(tmp, l.cfg.Path)
	}
	if err != nil {
		l.mu.Unlock()
		f.Close()
		fail(err)
		return
	}
	l.f.Close()
	l.f, l.lines = f, len(recs)+bytes.Count(tail, []byte("\n"))
	l.compacting = false
	l.mu.Unlock()
	_ = atomicfile.SyncDir(filepath.Dir(l.cfg.Path))
}

// awaitCompactionLocked waits for a rewrite of the file under way to end;
// l.mu is held, and let go meanwhile.
func (l *Log) awaitCompactionLocked() {
	for l.compacting {
		done := l.compactDone
		l.mu.Unlock()
		<-done
		l.mu.Lock()
	}
}

// readFrom is the file at path from off to its end.
func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// Seq is the newest event's number (0: none yet).
func (l *Log) Seq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// after returns the events kept after seq, and a channel closed when the
// next one comes.
func (l *Log) after(seq uint64) ([]Record, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.recent)
	for i > 0 && l.recent[i-1].Seq > seq {
		i--
	}
	return append([]Record(nil), l.recent[i:]...), l.changed
}

// Close stops the hook runner (a hook running is killed: its job's end is
// marked as handled) and closes the file.
func (l *Log) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.awaitCompactionLocked() // it puts its file in the log's place
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
