// Package store keeps what the host must not lose: the job table (one bbolt
// file under the host's home, a row per job) and the attach records, small
// files beside each running job's runtime socket that say how to find that
// runtime again after the host was killed.
package store

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/safepath"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketJobs = []byte("jobs")
	bucketMeta = []byte("meta")
	// bucketTriggers holds each stored definition's schedule state (see
	// Trigger), by "TYPE/NAME".
	bucketTriggers = []byte("triggers")
	// bucketPayloads holds small jobs' payloads by id, written in the
	// row's own transaction: no file to create on a start.
	bucketPayloads = []byte("payloads")
	keyNextID      = []byte("nextID")
	keySettings    = []byte("settings")
	// keyTableID is the table's random id, which its log's records carry.
	keyTableID = []byte("tableID")
)

// Row is what the store keeps per job: the visible job and what the host
// needs to run, resume and read it.
type Row struct {
	api.Job
	Spec *Spec `json:"spec"`
	// OwnerUID is the user who started the job: only they, and root, see
	// it. (Job.Owner is their name.)
	OwnerUID uint32 `json:"ownerUid"`
	// Foreground marks the job of a start --wait: its caller removes it
	// when it ends, and leaves a tomb then (see jobs' tomb.go).
	Foreground bool `json:"foreground,omitempty"`
	// Boot, for a Foreground job, is the machine's boot it was made in:
	// a later boot's host removes it, its caller gone (jobs' boot.go).
	Boot string `json:"boot,omitempty"`
	// RunAs is who the job's runtime runs as; nil is the host's own user.
	RunAs *Identity `json:"runAs,omitempty"`
	// ThrottleLimit, for a thread job, is how many thread jobs of its
	// runtime and user may run at once; 0 for any other job.
	ThrottleLimit int `json:"throttleLimit,omitempty"`
	// Constraint is the runtime version constraint the job was started
	// with, which a restart resolves again.
	Constraint string `json:"constraint,omitempty"`
	// SuspendedFrom, for a Suspended job, is the state it was suspended
	// in: Running (its processes are stopped) or NotStarted (the queue
	// skips it).
	SuspendedFrom api.State `json:"suspendedFrom,omitempty"`
	// Slurm, for a job on the Slurm location (the parent and each child),
	// says where Slurm and the job's files have it; Parent is a child's
	// parent job.
	Slurm  *SlurmJob `json:"slurm,omitempty"`
	Parent uint64    `json:"parent,omitempty"`
	// SSH, for a job on the SSH location (the parent and each child),
	// says where it runs and where its files are.
	SSH *SSHJob `json:"ssh,omitempty"`
	// LastSeq and LogSize describe the record log as persisted; while the
	// job runs they are kept in memory and recovered from the log itself.
	LastSeq uint64 `json:"lastSeq"`
	LogSize int64  `json:"logSize"`
	// KeptRecords is the whole record log of a job whose few records all
	// came with its end, kept here instead of in a file (see
	// recordlog.Writer.Keep): the row's commit makes them durable with
	// the end, and the job has no log file.
	KeptRecords []byte `json:"keptRecords,omitempty"`
	// ReadOffset is where the next draining receive starts.
	ReadOffset int64 `json:"readOffset"`
	// RestartID is the request id of the restart that made this row (a
	// new job, or this one again in place), and RestartOf the job it
	// restarted: a restart sent again finds what it did by them.
	RestartID string `json:"restartId,omitempty"`
	RestartOf uint64 `json:"restartOf,omitempty"`
	// WorkdirRaw is the working directory's exact bytes when they are not
	// UTF-8 (a Unix path is bytes), which JSON would change in Workdir;
	// set on writing, put back on reading.
	WorkdirRaw []byte `json:"workdirRaw,omitempty"`
	// OnEnd is the command run when the job ends (start --on-end).
	OnEnd string `json:"onEnd,omitempty"`
	// Batch, for a job started with --foreach (the parent and each of
	// its children), is how many of the parent's children run at once
	// (--throttle-limit). A child's payload is its parent's, with its
	// Item added.
	Batch int `json:"batch,omitempty"`
}

// SSHJob is where a job on the SSH location is.
type SSHJob struct {
	// Dir (the parent's) is the host's directory of the job: its copies
	// of the tasks' record logs.
	Dir string `json:"dir,omitempty"`
	// Throttle (the parent's) is how many of its children may be
	// connected at once (--throttle-limit).
	Throttle int `json:"throttle,omitempty"`
	// Computer (a child's) is its computer as given: a name,
	// user@host:port or an ssh_config alias.
	Computer string `json:"computer,omitempty"`
	// RemoteDir (a child's) is the job's directory on the computer,
	// relative to the home there.
	RemoteDir string `json:"remoteDir,omitempty"`
	// Launched (a child's): the host has launched its task there, or was
	// about to; it is never launched again (the task's directory says
	// whether it was).
	Launched bool `json:"launched,omitempty"`
}

// Elsewhere names where the job runs when not in this host's queue:
// "Slurm", "SSH", or "" for this machine.
func (r *Row) Elsewhere() string {
	switch {
	case r.Slurm != nil:
		return "Slurm"
	case r.SSH != nil:
		return "SSH"
	}
	return ""
}

// SlurmJob is where a job on the Slurm location is.
type SlurmJob struct {
	// JobID is Slurm's job id, once submitted.
	JobID string `json:"jobId,omitempty"`
	// Dir is the job's directory on the shared filesystem.
	Dir string `json:"dir"`
	// Task is a child job's task number.
	Task int `json:"task,omitempty"`
	// Run is the run of the Slurm job a child follows: how many times
	// Slurm had requeued the job when the host last saw it requeued. What
	// the task wrote of an earlier run is not this run's start or end.
	Run int `json:"run,omitempty"`
}

// Spec says which runtime binary runs the job. What the runtime receives
// (script, arguments, input, environment) is kept beside the row, in the
// job's payload file, so that rows stay small however large a job's input.
type Spec struct {
	Runtime string `json:"runtimePath"`
	SHA256  string `json:"sha256"`

	// Rows written before payload files held the payload themselves; they
	// are still read, never written.
	LegacyScript string   `json:"script,omitempty"`
	LegacyInit   string   `json:"init,omitempty"`
	LegacyArgs   []string `json:"args,omitempty"`
	LegacyInput  []byte   `json:"input,omitempty"`
	LegacyEnv    []string `json:"env,omitempty"`
}

// Identity is a user to run as.
type Identity struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

// Store is the job table. bbolt's file lock also keeps a second host off
// the same home.
type Store struct {
	db     *bolt.DB
	commit committer

	ckMu sync.Mutex // one checkpoint at a time

	mu           sync.Mutex
	wal          *wal // nil once closed
	tableID      uint64
	seq          uint64 // the last record in the log
	applied      uint64 // the last record the table (bbolt) has
	nextID       uint64
	overlay      map[string]pending // what the log has and the table not yet
	overlayBytes int
	timer        *time.Timer // the next checkpoint
	closeErr     error
	syncErr      error // a sync failed after its write was released (commitEarly)
	notice       string
}

// ErrLocked says another host holds the store.
var ErrLocked = errors.New("the job table is in use by another host")

// Open opens (creating if needed) the job table at path. A table bbolt
// cannot read, whether it reports an error or panics on a damaged page, is
// ErrCorrupt.
func Open(path string) (s *Store, err error) {
	// A table cut shorter than its pages say (its meta pages intact)
	// faults in bbolt's map as it loads the freelist: SIGBUS, which would
	// end the host at every start. Made a panic here, it is damage.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var db *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
			if db != nil {
				// Its lock and map go: the table is set aside and a
				// fresh one opened in its place.
				func() { defer func() { _ = recover() }(); _ = db.Close() }()
			}
		}
	}()
	db, err = bolt.Open(path, 0o600, options(0))
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, ErrLocked
		}
		if _, serr := os.Stat(path); serr == nil && unreadable(err) {
			// It is there and what it holds is not a table bbolt can
			// read.
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		// Anything else (out of memory or address space for its map,
		// out of descriptors, a disk that fails to read) says nothing
		// of the table, which is left as it is for the next try.
		return nil, fmt.Errorf("cannot open the job table %s: %w", path, err)
	}
	// A table that has its buckets is not written to at open: a host
	// comes back on a full disk.
	missing := false
	_ = db.View(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			missing = missing || tx.Bucket(b) == nil
		}
		return nil
	})
	if missing {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range buckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot prepare the job table %s: %w", path, err)
	}
	s = &Store{db: db, overlay: map[string]pending{}}
	if s.wal, err = openWAL(path); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.load(path); err != nil {
		s.wal.close()
		db.Close()
		return nil, err
	}
	if mostlyFree(path, s.db) {
		if s.db, err = compact(path, s.db); err != nil {
			s.wal.close()
			return nil, err
		}
	}
	// Only now, with the table that stays (a checkpoint into the file
	// compact replaces would be lost with it).
	if len(s.overlay) > 0 {
		s.armCheckpoint() // what the log held goes to the table soon
	}
	return s, nil
}

// load takes the table's id (making one for a new table), takes the log
// back (replay), and reads where ids stand.
func (s *Store) load(path string) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyTableID); len(v) == 8 {
			s.tableID = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err == nil && s.tableID == 0 {
		err = s.db.Update(func(tx *bolt.Tx) error {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			s.tableID = binary.BigEndian.Uint64(b[:])
			return tx.Bucket(bucketMeta).Put(keyTableID, b[:])
		})
	}
	if err != nil {
		return fmt.Errorf("cannot prepare the job table %s: %w", path, err)
	}
	if err := s.replay(path); err != nil {
		return err
	}
	v, err := s.get(bMeta, keyNextID)
	s.nextID = 1
	if len(v) == 8 {
		s.nextID = binary.BigEndian.Uint64(v)
	}
	return err
}

// Notice is what opening the table has to tell the user (a damaged log),
// or "".
func (s *Store) Notice() string { return s.notice }

// options opens a table: not through a link planted at its path (see
// safepath.NoFollow), with flags added to the open, and giving up soon if
// another host holds it.
func options(flags int) *bolt.Options {
	return &bolt.Options{Timeout: 200 * time.Millisecond,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			return os.OpenFile(name, flag|flags|safepath.NoFollow, perm)
		}}
}

// A table that once held many jobs keeps its size when they are removed,
// and their rows (inputs, environments) stay in its free pages, readable by
// anyone who reads the file. So at open, a table that is mostly free space
// is rewritten with its live rows only.
const (
	compactFrom = 4 << 20 // smaller tables are left as they are
	compactTx   = 64 << 20
)

// mostlyFree reports whether more than half of the table at path is free.
func mostlyFree(path string, db *bolt.DB) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < compactFrom {
		return false
	}
	var free int64
	_ = db.View(func(tx *bolt.Tx) error {
		st := tx.DB().Stats()
		free = int64(st.FreePageN+st.PendingPageN) * int64(tx.DB().Info().PageSize)
		return nil
	})
	return free*2 > fi.Size()
}

// unreadable reports whether bbolt's error opening a table says the file
// is not a table it can read: meta pages that are not a table's, fail
// their checksum or name another version, or a file cut shorter than
// them.
func unreadable(err error) bool {
	return errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) ||
		errors.Is(err, bolterrors.ErrVersionMismatch) || strings.Contains(err.Error(), "file size too small")
}

// compact rewrites the table at path (open as db) with its live data only,
// replacing the file whole (a crash leaves the old one or the new one), and
// returns the new one open.
func compact(path string, db *bolt.DB) (*bolt.DB, error) {
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, options(os.O_EXCL))
	if err == nil {
		if err = bolt.Compact(dst, db, compactTx); err == nil {
			err = dst.Close()
		} else {
			dst.Close()
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		// The table as it was serves on; compaction waits for the next
		// start.
		os.Remove(tmp)
		return db, nil
	}
	_ = atomicfile.SyncDir(filepath.Dir(path))
	db.Close()
	db, err = bolt.Open(path, 0o600, options(0))
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("cannot open the job table %s after compacting it: %w", path, err)
	}
	return db, nil
}

// SetAside moves a damaged table out of the way, to path.corrupt-TIME, and
// returns that name; the caller then opens a fresh one. Nothing is deleted:
// the damaged file stays for whoever wants to recover from it.
func SetAside(path string) (string, error) {
	// To the nanosecond: a table damaged again within the second must
	// not take the place of the one set aside before it.
	stamp := ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	aside := path + stamp
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("cannot set the damaged job table %s aside: %w", path, err)
	}
	// Its log goes with it (a fresh table would not read it anyway: its
	// records name the old table).
	if err := os.Rename(walPath(path), walPath(path)+stamp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return aside, fmt.Errorf("cannot set the damaged job table's log %s aside: %w", walPath(path), err)
	}
	return aside, nil
}

// Close applies the log to the table and closes both; writes after it
// fail.
func (s *Store) Close() error {
	if err := s.update(nil); err != nil && err != errClosed {
		s.db.Close()
		return err
	}
	if err := s.db.Close(); err != nil {
		return err
	}
	return s.closeErr
}

func idKey(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

// Create assigns the next id (ids are never reused), lets prepare fill in
// what depends on it and say the job's payload to keep with the row (nil:
// none here), and stores both under the id, in one transaction.
func (s *Store) Create(r *Row, prepare func(id uint64) []byte) error {
	return s.update(createRow(r, prepare))
}

// CreateForeground is Create for a job whose caller waits for it and
// takes it away when it ends (start --wait): it returns once the row is
// written to the log and readable, and its sync goes on meanwhile, beside
// the job's start. The next write waits for that sync, as every write
// waits for the one before, so the job's removal is durable only after
// its row. A host killed at any point finds the row (the write is in the
// file); only the machine losing power within the sync can lose it, and
// with it the caller, which, gone, would have stopped and removed the
// job. (Its id may then be given again.) One fdatasync fewer on the path
// of a start --wait.
func (s *Store) CreateForeground(r *Row, prepare func(id uint64) []byte) error {
	return s.updateEarly(createRow(r, prepare))
}

func createRow(r *Row, prepare func(id uint64) []byte) func(*wtx) error {
	return func(tx *wtx) error {
		id := tx.takeIDs(1)
		if payload := prepare(id); payload != nil {
			tx.put(bPayloads, idKey(id), payload)
		}
		return putRow(tx, r)
	}
}

// CreateBatch stores a parent and its children in one transaction, one
// sync for them all (start --foreach): the parent takes the next id and
// the children the ids after it, in order. prepare fills in what depends
// on the ids and says the parent's payload to keep with its row (nil:
// none here); the children have none of their own.
func (s *Store) CreateBatch(parent *Row, children []*Row, prepare func(first uint64) []byte) error {
	return s.update(func(tx *wtx) error {
		id := tx.takeIDs(1 + uint64(len(children)))
		if payload := prepare(id); payload != nil {
			tx.put(bPayloads, idKey(id), payload)
		}
		if err := putRow(tx, parent); err != nil {
			return err
		}
		for _, r := range children {
			if err := putRow(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Payload returns the payload kept with job id's row; nil if none is.
func (s *Store) Payload(id uint64) ([]byte, error) {
	v, err := s.get(bPayloads, idKey(id))
	if v != nil {
		v = append([]byte(nil), v...)
	}
	return v, err
}

// get reads key from the overlay, else from the table: in that order, so
// that a write a checkpoint moves from one to the other meanwhile is found
// (the overlay forgets it only once the table has it). The value is not to
// be changed; nil: none.
func (s *Store) get(bucket byte, key []byte) ([]byte, error) {
	if v, ok := s.lookup(bucket, key); ok {
		return v, nil
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(buckets[bucket]).Get(key); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

func putRow(tx *wtx, r *Row) error {
	if !utf8.ValidString(r.Workdir) {
		// A copy: the caller's row may be read meanwhile.
		c := *r
		c.WorkdirRaw = []byte(r.Workdir)
		r = &c
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tx.put(bJobs, idKey(r.ID), b)
	return nil
}

// Put writes rows, in one transaction.
func (s *Store) Put(rows ...*Row) error {
	return s.update(func(tx *wtx) error {
		for _, r := range rows {
			if err := putRow(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete removes job id's row and payload.
func (s *Store) Delete(id uint64) error { return s.update(deleteRow(id)) }

// DeleteForeground is Delete for a row made by CreateForeground, which its
// caller removes once it has had all of the job (start --wait): it returns
// once the delete is written and readable, and its sync goes on meanwhile,
// while the caller prints the job's end and exits. A host killed at any
// point finds the delete (it is in the file). A power loss within the
// sync may bring the row back as its last durable write left it, which
// for such a job is the row as created; the next host removes it as a job
// of an earlier boot (jobs' FromEarlierBoot) rather than run it. One
// fdatasync fewer on the path of a start --wait.
func (s *Store) DeleteForeground(id uint64) error {
	return s.updateEarly(deleteRow(id))
}

func deleteRow(id uint64) func(*wtx) error {
	return func(tx *wtx) error {
		tx.del(bPayloads, idKey(id))
		tx.del(bJobs, idKey(id))
		tx.del(bMeta, startedKey(id)) // a batch's mark, if it kept one
		return nil
	}
}

// BadRow is a row that is there but cannot be read.
type BadRow struct {
	ID  uint64
	Err error
}

// ErrCorrupt says the table file itself is damaged.
var ErrCorrupt = errors.New("the job table is corrupt")

// All returns every stored row in id order, and the rows that cannot be
// decoded (they stay in the table, so that they can be removed). Damage to
// the file itself, which bbolt may report by panicking, is ErrCorrupt.
func (s *Store) All() (rows []*Row, bad []BadRow, err error) {
	defer func() {
		if r := recover(); r != nil {
			rows, bad, err = nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	// The table's rows, each as the log has it if the log has it. The
	// overlay is read first, as get does: a row a checkpoint moves to the
	// table meanwhile is then in both, the same.
	s.mu.Lock()
	pend := map[uint64]pending{}
	for k, p := range s.overlay {
		if k[0] == bJobs && len(k) == 9 {
			pend[binary.BigEndian.Uint64([]byte(k[1:]))] = p
		}
	}
	s.mu.Unlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		var raws []rawRow
		err := tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: a key of %d bytes", ErrCorrupt, len(k))
			}
			id := binary.BigEndian.Uint64(k)
			if _, ok := pend[id]; !ok {
				raws = append(raws, rawRow{id, v})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for id, p := range pend {
			if !p.del {
				raws = append(raws, rawRow{id, p.val})
			}
		}
		slices.SortFunc(raws, func(a, b rawRow) int { return cmp.Compare(a.id, b.id) })
		// Decoded while the transaction holds the table's bytes (no copy
		// of them), on every core: decoding is most of a host's start
		// with a big table.
		rows, bad = decodeRows(raws)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return rows, bad, nil
}

// rawRow is a row's id and its encoded bytes.
type rawRow struct {
	id uint64
	v  []byte
}

// decodeRows decodes raws, in order, split among the processors; rows that
// cannot be read are bad.
func decodeRows(raws []rawRow) (rows []*Row, bad []BadRow) {
	out := make([]*Row, len(raws))
	errs := make([]error, len(raws))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(raws)/256))
	per := (len(raws) + workers - 1) / max(workers, 1)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, len(raws))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i], errs[i] = decodeRow(raws[i].id, raws[i].v)
			}
		}()
	}
	wg.Wait()
	for i, r := range out {
		if errs[i] != nil {
			bad = append(bad, BadRow{ID: raws[i].id, Err: errs[i]})
			continue
		}
		rows = append(rows, r)
	}
	return rows, bad
}

// decodeRow decodes the row stored under id.
func decodeRow(id uint64, v []byte) (*Row, error) {
	r := new(Row)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, err
	}
	if r.WorkdirRaw != nil {
		r.Workdir = string(r.WorkdirRaw)
	}
	if r.ID != id {
		return nil, fmt.Errorf("the row says it is job %d", r.ID)
	}
	return r, nil
}

// Settings is what `bgjob queue` sets: it outlives the host.
type Settings struct {
	// MaxRunning is each group's limit, by name.
	MaxRunning map[string]int `json:"maxRunning,omitempty"`
	// KeepFinished and KeepFor are the clean-up policy (0: keep all).
	KeepFinished int           `json:"keepFinished,omitempty"`
	KeepFor      time.Duration `json:"keepFor,omitempty"`
	// OnEnd is the command run when any job ends (queue --on-end).
	OnEnd string `json:"onEnd,omitempty"`
}

// Settings returns the stored settings; the zero value if none are.
func (s *Store) Settings() (Settings, error) {
	var out Settings
	v, err := s.get(bMeta, keySettings)
	if err == nil && v != nil {
		err = json.Unmarshal(v, &out)
	}
	if err != nil {
		return Settings{}, fmt.Errorf("cannot read the queue settings: %w", err)
	}
	return out, nil
}

// PutSettings stores the settings.
func (s *Store) PutSettings(set Settings) error {
	b, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return s.update(func(tx *wtx) error {
		tx.put(bMeta, keySettings, b)
		return nil
	})
}

// PutWithPayload writes a row and the payload kept with it (nil: none
// here) in one transaction (restart --in-place): the row never pairs with
// another job's payload.
func (s *Store) PutWithPayload(r *Row, payload []byte) error {
	return s.update(func(tx *wtx) error {
		if payload == nil {
			tx.del(bPayloads, idKey(r.ID))
		} else {
			tx.put(bPayloads, idKey(r.ID), payload)
		}
		return putRow(tx, r)
	})
}
