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
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
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
	changed chan struct{}     // closed and replaced on every event
	// last is each job's state as the log told it when the host started,
	// until the job moves. A host killed after an event was logged and
	// before the job's row was written finds the row older than the log:
	// the recovery's moves from it (found running, then ended) replay
	// what the log told, and are not told (nor their hooks run) again.
	last    map[uint64]api.State
	wake    chan struct{} // the hook runner has work
	closed  bool
	running bool // a hook runs

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
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
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
	return sc.Err()
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
			r.Hook = &Hook{Commands: cmds, Dir: j.Row.Workdir, RunAs: j.Row.RunAs, GroupDone: l.cfg.Table.GroupDoneLocked(j)}
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
	if l.lines > 2*l.cfg.Keep+len(l.due) {
		l.compact()
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
		_, err = l.f.Write(append(b, '\n'))
	}
	if err != nil {
		l.log.Error("cannot append to the event log", "err", err)
		return
	}
	l.lines++
}

// compact rewrites the file with the newest Keep events and those whose
// hooks are due; l.mu is held.
func (l *Log) compact() {
	keep := l.recent[max(0, len(l.recent)-l.cfg.Keep):]
	var buf bytes.Buffer
	n := 0
	put := func(r Record) {
		b, _ := json.Marshal(r)
		buf.Write(append(b, '\n'))
		n++
	}
	for _, r := range l.due {
		if len(keep) == 0 || r.Seq < keep[0].Seq {
			put(r)
		}
	}
	for _, r := range keep {
		put(r)
	}
	tmp := l.cfg.Path + ".tmp"
	err := writeSynced(tmp, buf.Bytes())
	if err == nil {
		err = os.Rename(tmp, l.cfg.Path)
	}
	if err != nil {
		os.Remove(tmp)
		l.log.Error("cannot shorten the event log", "err", err)
		return
	}
	f, err := os.OpenFile(l.cfg.Path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		l.log.Error("cannot open the event log; events are kept in memory only", "err", err)
		f = nil
	}
	l.f.Close()
	l.f, l.lines = f, n
	if d, err := os.Open(filepath.Dir(l.cfg.Path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
