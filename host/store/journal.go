package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/safepath"
)

// Journal keeps small, often rewritten facts about live jobs (where their
// records stand, how to find their runtimes again) in one append-only
// file, one write per change and no sync: the page cache keeps them when
// the host is killed, which is most of what they are for (after a power
// loss no runtime is left to find). The exception is the fact that a job
// was handed to its runtime: after a power loss it is all that tells a
// job that ran from one still queued, so the runner makes it durable
// (Sync) before the runtime gets the job. One file opened once, not a
// file per job: creating a file costs more than everything else a job's
// start does on some disks.
//
// Each record is framed: uvarint length, then kind, id (8 bytes), value,
// CRC-32 of those. A torn tail (a power loss mid-append) is dropped on
// load; other bytes that are not whole frames are damage, skipped and
// reported (Damaged). The latest value per (kind, id) wins; an empty value
// deletes. The file is rewritten with the live values when it grows past
// compactAt.
type Journal struct {
	path string

	mu     sync.Mutex
	f      *os.File
	size   int64
	latest map[journalKey][]byte
	damage []Damage

	// gen counts writes; synced is the gen, and syncedSize the length of
	// the file, a sync made durable. named says that the file's name in
	// its folder is durable too: false until the first Sync, and again
	// after a compaction renames a new file into place (renames counts
	// those). syncErr is set once a sync has failed.
	gen, synced, renames uint64
	syncedSize           int64
	named                bool
	syncErr              error
	syncMu               sync.Mutex // held by the one Sync under way
	// compactFrom is the size past which a Put compacts: compactAt, and
	// further after a compaction failed (a full disk), so that each Put
	// does not try it again.
	compactFrom int64
}

type journalKey struct {
	kind byte
	id   uint64
}

// compactAt is the size past which the journal is rewritten with only
// its live values.
const compactAt = 4 << 20

// OpenJournal opens (creating if needed) the journal at path and loads it.
func OpenJournal(path string) (*Journal, error) {
	j := &Journal{path: path, latest: map[journalKey][]byte{}, compactFrom: compactAt}
	if err := j.load(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|safepath.NoFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the journal %s: %w", path, err)
	}
	j.f = f
	// What load read past a torn tail goes: appends follow whole records.
	if fi, err := f.Stat(); err == nil && fi.Size() != j.size {
		if err := f.Truncate(j.size); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot cut the torn end of the journal %s: %w", path, err)
		}
	}
	return j, nil
}

func (j *Journal) load() error {
	b, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read the journal %s: %w", j.path, err)
	}
	latest, damage, size := parseJournal(b)
	j.latest, j.damage, j.size = latest, damage, int64(size)
	return nil
}

// parseJournal reads the frames of b: the latest value of each key, the
// damage, and where what it read ends (a torn tail, if any, starts there).
func parseJournal(b []byte) (latest map[journalKey][]byte, damage []Damage, size int) {
	latest = map[journalKey][]byte{}
	// Where a whole frame starts again after off (resync), kept from one
	// bad frame to the next: the positions between were looked at
	// already. -1: nowhere; -2: not looked for yet.
	again := -2
	// What the CRCs of resync may cost in all; past it, no whole frame
	// is found again.
	budget := crcBudget(len(b))
	var off int
	for off < len(b) {
		k, v, n, ok := readFrame(b[off:])
		if !ok {
			// Not a whole frame: damage, up to the next whole frame
			// (resync), or to the end of the file when none follows;
			// or a torn tail, if nothing whole follows and it could be
			// the start of a frame cut short (a host killed mid-append
			// leaves a prefix of what it wrote). Damage is reported, not
			// cut: what it held is lost, and the host must be told, not
			// left to think it never was. Frames whole after it are
			// read, whatever its own header says of its length.
			if again == -2 || again >= 0 && again <= off {
				again = -1
				if next := resync(b[off+1:], &budget); next >= 0 {
					again = off + 1 + next
				}
			}
			end := again
			if end < 0 {
				if cutShort(b[off:]) || zeroedTail(b[off:]) {
					return latest, damage, off // torn
				}
				end = len(b)
			}
			damage = append(damage, split(b[off:end], int64(off))...)
			off = end
			continue
		}
		if len(v) > 0 {
			latest[k] = v
		} else {
			delete(latest, k)
		}
		off += n
	}
	return latest, damage, off
}

// readFrame reads the frame at the start of b: its key, its value and its
// length in b; false if b does not start with a whole, intact frame the
// host could have written (plausible).
func readFrame(b []byte) (journalKey, []byte, int, bool) {
	l, ok := plausible(b)
	if !ok {
		return journalKey{}, nil, 0, false
	}
	_, hdr := binary.Uvarint(b)
	body := b[hdr : l-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[l-4:l]) {
		return journalKey{}, nil, 0, false
	}
	k := journalKey{kind: body[0], id: binary.LittleEndian.Uint64(body[1:9])}
	return k, append([]byte(nil), body[9:]...), l, true
}

// frameLen is the length of the frame at the start of b as its header
// says, and whether a frame of that length fits in b: not whether it is
// intact.
func frameLen(b []byte) (int, bool) {
	n, hdr := binary.Uvarint(b)
	if hdr <= 0 || !frameBodyLen(n) || uint64(len(b)-hdr) < n {
		return 0, false
	}
	return hdr + int(n), true
}

// frameBodyLen reports whether n can be a frame's length as its header
// says it: a kind, an id and a CRC at least, 1 MiB at most.
func frameBodyLen(n uint64) bool { return n >= 1+8+4 && n <= 1<<20 }

// cutShort reports whether b could be the start of a frame cut short: a
// length that does not end within b, or one that says more than b holds.
// A torn tail is that; bytes that cannot start any frame are damage.
func cutShort(b []byte) bool {
	n, hdr := binary.Uvarint(b)
	return hdr == 0 || hdr > 0 && frameBodyLen(n) && uint64(len(b)-hdr) < n
}

// zeroedTail reports whether b, the journal's end with no whole frame in
// it, is what a power loss leaves of an append: zeros where its blocks
// were never written (the file's size durable, its data not), after the
// start of a frame whose length covers every byte before them, or none.
// The zeros take at least the frame's checksum: a damaged frame whose
// checksum happens to end in a zero byte or three is still damage.
func zeroedTail(b []byte) bool {
	data := len(b)
	for data > 0 && b[data-1] == 0 {
		data--
	}
	if len(b)-data < 4 {
		return false
	}
	if data == 0 {
		return true
	}
	n, hdr := binary.Uvarint(b)
	return hdr > 0 && frameBodyLen(n) && uint64(hdr)+n >= uint64(data)
}

// resync returns the offset in b of the first whole frame, or -1 if there
// is none. Only a frame the host could have written counts (plausible: a
// letter for its kind, an id below 2^48), and its CRC must check out, so a
// chance match inside damaged bytes is about one in 2^50 a position. The
// cheap checks come first: in damaged bytes most positions fail them, and
// a CRC over a length read from damage can be a megabyte, which budget
// bounds.
func resync(b []byte, budget *int) int {
	for i := range b {
		l, ok := plausible(b[i:])
		if !ok {
			continue
		}
		if *budget -= l; *budget < 0 {
			return -1
		}
		if _, _, _, ok := readFrame(b[i:]); ok {
			return i
		}
	}
	return -1
}

// plausible is frameLen for a frame whose kind is a letter, as every
// kind is, and whose id is below 2^48, as every id is (a job's, or 0).
func plausible(b []byte) (int, bool) {
	l, ok := frameLen(b)
	if !ok {
		return 0, false
	}
	_, hdr := binary.Uvarint(b)
	kind, id := b[hdr], binary.LittleEndian.Uint64(b[hdr+1:])
	return l, 'a' <= kind && kind <= 'z' && id < 1<<48
}

// split is the damage of b, at off in the journal: one stretch per
// damaged frame as far as their lengths go within b, each with the key
// its header claims (a hint: the header may be damaged too), and the rest
// one stretch. It depends on b alone, so the same damage reads the same
// however the file goes on.
func split(b []byte, off int64) []Damage {
	var out []Damage
	for len(b) > 0 {
		l, ok := frameLen(b)
		if !ok {
			l = len(b)
		}
		d := Damage{Offset: off, Len: int64(l)}
		if _, hdr := binary.Uvarint(b); hdr > 0 && l >= hdr+1+8 {
			d.Kind, d.ID = b[hdr], binary.LittleEndian.Uint64(b[hdr+1:])
		}
		out = append(out, d)
		b, off = b[l:], off+int64(l)
	}
	return out
}

// Damage is a stretch of the journal that is not a whole frame and not a
// torn tail (a host killed mid-append): bytes changed after they were
// written. Kind and ID are what the damaged frame's header claims, if it
// reads; they may be damaged too.
type Damage struct {
	Offset, Len int64
	Kind        byte
	ID          uint64
}

// Attach reports whether the damaged frame claims to be job id's attach
// record.
func (d Damage) Attach(id uint64) bool { return d.Kind == kindAttach && d.ID == id }

func (d Damage) String() string {
	return fmt.Sprintf("%d bytes at byte %d", d.Len, d.Offset)
}

// Damaged returns the damage load found, in order. The damaged bytes stay
// in the file until it is next compacted.
func (j *Journal) Damaged() []Damage {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.damage)
}

// frame is the journal's form of (kind, id, v): its length (a uvarint),
// kind, id, v and a CRC. Every kind is a lowercase letter and every id
// below 2^48 (resync relies on both to skip damaged bytes quickly).
func frame(kind byte, id uint64, v []byte) []byte {
	body := make([]byte, 0, 1+8+len(v)+4)
	body = append(body, kind)
	body = binary.LittleEndian.AppendUint64(body, id)
	body = append(body, v...)
	body = binary.LittleEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	out := binary.AppendUvarint(nil, uint64(len(body)))
	return append(out, body...)
}

// Put records v as the value of (kind, id); an empty v deletes it.
func (j *Journal) Put(kind byte, id uint64, v []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := journalKey{kind, id}
	if len(v) == 0 {
		if _, ok := j.latest[k]; !ok {
			return nil // nothing to delete: nothing to write
		}
		delete(j.latest, k)
	} else {
		j.latest[k] = append([]byte(nil), v...)
	}
	b := frame(kind, id, v)
	if _, err := j.f.Write(b); err != nil {
		// Part of it may be in the file (a full disk): cut it, so that
		// what is appended next follows whole frames, not damage.
		_ = j.f.Truncate(j.size)
		return fmt.Errorf("cannot write the journal %s: %w", j.path, err)
	}
	j.size += int64(len(b))
	j.gen++
	if j.size > j.compactFrom {
		// The frame is written: a compaction only saves room, and one
		// that fails must not fail the write (every job's start would
		// fail with it while the disk is full). It is tried again once
		// the journal has grown by another quarter of compactAt.
		if err := j.compactLocked(); err != nil {
			j.compactFrom = j.size + compactAt/4
		} else {
			// Live values alone past compactAt would compact again
			// at every Put.
			j.compactFrom = max(compactAt, 2*j.size)
		}
	}
	return nil
}

// Sync makes everything written to the journal so far durable: a power
// loss keeps it. Writes go on while a sync is under way, and the callers
// that come meanwhile share the next one: one sync for all their writes.
// Once a sync has failed every later one fails: the kernel may have
// dropped the pages it could not write and report the next sync as clean.
func (j *Journal) Sync() error {
	j.mu.Lock()
	want := j.gen
	j.mu.Unlock()
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	for {
		j.mu.Lock()
		if j.syncErr != nil || (j.named && j.synced >= want) {
			j.mu.Unlock()
			return j.syncErr
		}
		f, gen, size, renames, named := j.f, j.gen, j.size, j.renames, j.named
		j.mu.Unlock()
		var err error
		if !named {
			if err = atomicfile.SyncDir(filepath.Dir(j.path)); err != nil {
				err = fmt.Errorf("cannot sync the folder of the journal %s: %w", j.path, err)
			}
		}
		if err == nil {
			// Sync holds the file open while it runs: a compaction
			// meanwhile closes it only after.
			if err = f.Sync(); err != nil {
				err = fmt.Errorf("cannot sync the journal %s: %w", j.path, err)
			}
		}
		j.mu.Lock()
		if j.renames != renames {
			// A compaction replaced the file (synced whole) and its name
			// is to be made durable: again.
			j.mu.Unlock()
			continue
		}
		if err != nil {
			j.syncErr = err
		} else {
			j.synced, j.syncedSize, j.named = gen, size, true
		}
		j.mu.Unlock()
		return err
	}
}

// Synced is the length of the journal's file that a power loss now would
// leave: what the syncs made durable.
func (j *Journal) Synced() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.named {
		return 0
	}
	return j.syncedSize
}

// Get returns the value of (kind, id), if there is one.
func (j *Journal) Get(kind byte, id uint64) ([]byte, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v, ok := j.latest[journalKey{kind, id}]
	return v, ok
}

// All returns the values of kind, by id.
func (j *Journal) All(kind byte) map[uint64][]byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := map[uint64][]byte{}
	for k, v := range j.latest {
		if k.kind == kind {
			out[k.id] = v
		}
	}
	return out
}

// Compact rewrites the journal with its live values only.
func (j *Journal) Compact() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.compactLocked()
}

func (j *Journal) compactLocked() error {
	var buf []byte
	for k, v := range j.latest {
		buf = append(buf, frame(k.kind, k.id, v)...)
	}
	af, err := atomicfile.Create(filepath.Dir(j.path), "."+filepath.Base(j.path)+".tmp-*")
	if err != nil {
		return err
	}
	defer af.Abort()
	if _, err := af.File.Write(buf); err != nil {
		return err
	}
	// Opened before it takes the journal's name: once it has, appends
	// must go to it, and an open after the rename that failed would leave
	// them going to the old file, no longer in any folder.
	f, err := os.OpenFile(af.Name(), os.O_WRONLY|os.O_APPEND|safepath.NoFollow, 0o600)
	if err != nil {
		return err
	}
	if err := af.Commit(j.path, 0o600); err != nil {
		f.Close()
		return err
	}
	j.f.Close()
	// The new file was synced before it took the name (atomicfile); the
	// name is made durable by the next Sync.
	j.f, j.size = f, int64(len(buf))
	j.synced, j.syncedSize, j.named = j.gen, j.size, false
	j.renames++
	return nil
}

// Close closes the journal's file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}
