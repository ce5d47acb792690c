package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/safepath"
	bolt "go.etcd.io/bbolt"
)

// The write-ahead log.
//
// A bbolt commit costs two fdatasyncs (the pages, then the meta page that
// makes them current) and writes every page on the path from the root to
// the row, the freelist too: on a submit, more than the admission and
// everything else the host does. So a write is made durable by one
// record appended to a log beside the table (jobs.db.wal) and one
// fdatasync, and the table itself is brought up to date later, many writes
// in one bbolt commit (a checkpoint: see Store.checkpoint). Until then the
// writes are kept in memory (the overlay), where reads find them first.
//
// The log is written over from its start once everything in it is in the
// table, so it stays small and its blocks stay allocated: an fdatasync of
// blocks that are already the file's changes no metadata, which is what
// makes it cheap (a write that grows a file costs a journal commit).
//
// A record is: length of the body (4 bytes), CRC-32C of the body (4), the
// body: the record's sequence number (8), the table's id (8: a log left
// beside another table, one set aside as damaged, is not this one's), then
// its operations, each a
// bucket byte (high bit: a delete), the key and the value, each with its
// uvarint length. Sequence numbers only grow, across the log's reuse: the
// table keeps the last one it holds (walSeq), so records at or below it
// are already applied, and a record that does not follow the one before it
// is an older one the log was written over from, where the log ends.

var (
	keyWALSeq  = []byte("walSeq")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// buckets are the table's buckets by the number an operation names them
// with in the log.
var buckets = [...][]byte{bucketJobs, bucketMeta, bucketTriggers, bucketPayloads}

const (
	bJobs byte = iota
	bMeta
	bTriggers
	bPayloads
	opDelete byte = 0x80
)

// walChunk is how much the log grows by, written as zeros and synced once,
// so that appends overwrite blocks the file already has.
const walChunk = 1 << 20

// op is one change a write makes.
type op struct {
	bucket byte // with opDelete for a delete
	key    []byte
	val    []byte
}

// wal is the log file. Appends are the committer's leader's alone; reset
// happens only when no append is under way.
type wal struct {
	f    *os.File
	off  int64 // where the next record goes
	next int64 // where the one after the record written last would go
	size int64 // the file's size: zeros from off to here
	buf  []byte
}

func walPath(table string) string { return table + ".wal" }

// openWAL opens the log beside the table at path, creating it if needed.
func openWAL(path string) (*wal, error) {
	f, err := os.OpenFile(walPath(path), os.O_RDWR|os.O_CREATE|safepath.NoFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the job table's log %s: %w", walPath(path), err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &wal{f: f, size: fi.Size()}, nil
}

// writeOps writes one record of ops with sequence number seq after the
// last one, without making it durable: the file has it (a process killed
// now does not lose it), the disk may not. The next record goes after it
// only once off is moved to next: a record whose sync failed is written
// over.
func (w *wal) writeOps(seq, table uint64, ops []op) error {
	b := append(w.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, table)
	for _, o := range ops {
		b = append(b, o.bucket)
		b = binary.AppendUvarint(b, uint64(len(o.key)))
		b = append(b, o.key...)
		b = binary.AppendUvarint(b, uint64(len(o.val)))
		b = append(b, o.val...)
	}
	body := b[8:]
	binary.BigEndian.PutUint32(b[0:4], uint32(len(body)))
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(body, castagnoli))
	w.buf = b
	if end := w.off + int64(len(b)); end > w.size {
		if err := w.grow(end); err != nil {
			return err
		}
	}
	if _, err := w.f.WriteAt(b, w.off); err != nil {
		return fmt.Errorf("cannot write the job table's log: %w", err)
	}
	w.next = w.off + int64(len(b))
	return nil
}

// unwrite writes zeros over the record written last, whose sync failed,
// so that the log ends at off again (past off it holds zeros: see size):
// a host killed now does not apply, when it starts again, a write whose
// callers were told it failed.
func (w *wal) unwrite() error {
	if w.next <= w.off {
		return nil
	}
	if _, err := w.f.WriteAt(make([]byte, w.next-w.off), w.off); err != nil {
		return err
	}
	w.next = w.off
	return nil
}

// sync makes what was written durable.
func (w *wal) sync() error {
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("cannot sync the job table's log: %w", err)
	}
	return nil
}

// grow extends the file with zeros to at least end, in whole chunks, and
// syncs it: the size change is paid once here, not on every append.
func (w *wal) grow(end int64) error {
	n := (end - w.size + walChunk - 1) / walChunk * walChunk
	zeros := make([]byte, n)
	if _, err := w.f.WriteAt(zeros, w.size); err != nil {
		return fmt.Errorf("cannot grow the job table's log: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync the job table's log: %w", err)
	}
	w.size += n
	return nil
}

// reset makes the log empty: the next record goes at its start. What it
// held is written over with zeros (not synced: the table has it all, and a
// record left behind is older than the table's walSeq, never applied), so
// that a removed job's input and environment do not stay in the file.
func (w *wal) reset() {
	if w.off > 0 {
		_, _ = w.f.WriteAt(make([]byte, w.off), 0)
	}
	w.off = 0
}

func (w *wal) close() error { return w.f.Close() }

// walRecord is a record read back.
type walRecord struct {
	seq, table uint64
	ops        []op
}

// readWAL reads the records of the log's bytes data from its start, up to where it
// ends: zeros, a torn or damaged record, or a record that does not follow
// the one before it. damaged, unless -1, is where the log ended at a record that fails its
// check with a whole record following it that is newer than both the one
// before it and applied (the table's walSeq): a crash does not leave that.
// end is where the records read end; after, when the log is damaged, are
// the sound newer records found beyond the damage (lost, but what they
// said of ids counts).
func readWAL(data []byte, table, applied uint64) (recs []walRecord, end, damaged int64, after []walRecord) {
	prev := applied
	off := 0
	for {
		rec, n, ok := parseRecord(data[off:])
		if !ok || rec.table != table || len(recs) > 0 && rec.seq != prev+1 {
			break
		}
		recs = append(recs, rec)
		prev = rec.seq
		off += n
	}
	// The end of the log: zeros, a torn record, or one older than those
	// before it. A crash leaves nothing newer beyond it (the log is
	// written in order, and zeroed when it starts over); a record of this
	// table numbered beyond both what was read and what the table has,
	// anywhere after, means the bytes in between were damaged.
	newest := max(prev, applied)
	// Checksums only where a record's length fits, and within a budget
	// (a log of lengths that all fit took 35 s for 4 MiB without it).
	budget := crcBudget(len(data))
	for i := off + 1; i+24 <= len(data) && budget > 0; i++ {
		n, ok := recordLen(data[i:])
		if !ok {
			continue
		}
		budget -= n
		if rec, n, ok := parseRecord(data[i:]); ok && rec.table == table && rec.seq > newest {
			after = append(after, rec)
			i += n - 1
		}
	}
	if len(after) > 0 {
		return recs, int64(off), int64(off), after
	}
	return recs, int64(off), -1, nil
}

// recordLen is the whole length of the record at the start of b as its
// header says (size and checksum, then size bytes), and whether a record
// of that length fits in b: not whether it checks.
func recordLen(b []byte) (int, bool) {
	if len(b) < 24 {
		return 0, false
	}
	size := int(binary.BigEndian.Uint32(b[0:4]))
	if size < 16 || size > len(b)-8 {
		return 0, false
	}
	return 8 + size, true
}

// crcBudget is how many bytes the search for sound records after damage
// may checksum in a log or journal of n bytes: a few times n, so that no
// bytes, damaged or made up, make the host's start take long, while a
// sound file costs its own size once.
func crcBudget(n int) int { return 4*n + 64<<10 }

// parseRecord reads the record at the start of b; n is its whole length
// when the header was readable, ok whether it checks.
func parseRecord(b []byte) (rec walRecord, n int, ok bool) {
	n, ok = recordLen(b)
	if !ok {
		return rec, 0, false
	}
	body := b[8:n]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return rec, n, false
	}
	rec.seq = binary.BigEndian.Uint64(body)
	rec.table = binary.BigEndian.Uint64(body[8:])
	for p := body[16:]; len(p) > 0; {
		var o op
		o.bucket = p[0]
		if int(o.bucket&^opDelete) >= len(buckets) {
			return rec, n, false
		}
		p = p[1:]
		for _, dst := range []*[]byte{&o.key, &o.val} {
			l, k := binary.Uvarint(p)
			if k <= 0 || l > uint64(len(p)-k) {
				return rec, n, false
			}
			*dst = p[k : k+int(l)]
			p = p[k+int(l):]
		}
		rec.ops = append(rec.ops, o)
	}
	return rec, n, true
}

// applyOps applies ops to the table in tx.
func applyOps(tx *bolt.Tx, ops []op) error {
	for _, o := range ops {
		b := tx.Bucket(buckets[o.bucket&^opDelete])
		var err error
		if o.bucket&opDelete != 0 {
			err = b.Delete(o.key)
		} else {
			err = b.Put(o.key, o.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// replay takes what the log holds beyond the table's walSeq back into the
// overlay, as it was before the host stopped, and appends go on after it:
// nothing is written at open, so a host comes back on a full disk, and the
// next checkpoint brings the table up to date.
//
// A damaged log (see readWAL) is applied to the table up to the damage,
// there and then, and copied aside, as path.wal.damaged-TIME, for whoever
// wants to look at it; the notice says so. What the damaged record and
// those after it said is lost, and one of them may have been a queued
// job's start: so every job the table still has as NotStarted is failed,
// with a reason saying why, rather than risk running it twice (the user
// restarts the ones that did not run).
func (s *Store) replay(path string) error {
	var walSeq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyWALSeq); len(v) == 8 {
			walSeq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.NewSectionReader(s.wal.f, 0, 1<<62))
	if err != nil {
		return fmt.Errorf("cannot read the job table's log: %w", err)
	}
	recs, end, damaged, after := readWAL(data, s.tableID, walSeq)
	s.seq, s.applied = walSeq, walSeq
	if damaged >= 0 {
		return s.replayDamaged(path, data, recs, damaged, after)
	}
	for _, r := range recs {
		if r.seq <= walSeq {
			continue
		}
		for _, o := range r.ops {
			s.setPending(o, r.seq)
		}
		s.seq = r.seq
	}
	s.wal.off = end
	if s.seq == s.applied {
		// Nothing new: the table has it all (a host stopped between a
		// checkpoint and the log's new start).
		s.wal.reset()
	}
	if s.wal.size < walChunk {
		// A new log: its size and its name in the folder are made
		// durable once, here.
		if err := s.wal.grow(walChunk); err != nil {
			return err
		}
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			return fmt.Errorf("cannot sync the folder of the job table's log: %w", err)
		}
	}
	return nil
}

// replayDamaged applies the records before the damage at byte damaged to
// the table, fails the queued jobs, keeps a copy of the log and starts it
// over (see replay).
//
// The ids the records beyond the damage took are not given again: their
// jobs may be running.
func (s *Store) replayDamaged(path string, data []byte, recs []walRecord, damaged int64, after []walRecord) error {
	seq := s.applied
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		next := uint64(0)
		for _, r := range after {
			for _, o := range r.ops {
				if o.bucket == bMeta && string(o.key) == string(keyNextID) && len(o.val) == 8 {
					next = max(next, binary.BigEndian.Uint64(o.val))
				}
			}
		}
		for _, r := range recs {
			if r.seq <= seq {
				continue
			}
			if err := applyOps(tx, r.ops); err != nil {
				return err
			}
			seq = r.seq
		}
		if err := failQueued(tx, fmt.Sprintf("the job table's log %s was damaged at byte %d, and this job may have started before the host stopped; it is not run again, so that it does not run twice: restart it if it did not run", walPath(path), damaged)); err != nil {
			return err
		}
		if v := meta.Get(keyNextID); next > 0 && (len(v) != 8 || binary.BigEndian.Uint64(v) < next) {
			if err := meta.Put(keyNextID, idKey(next)); err != nil {
				return err
			}
		}
		return meta.Put(keyWALSeq, binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return fmt.Errorf("cannot apply the job table's log %s: %w", walPath(path), err)
	}
	s.seq, s.applied = seq, seq
	aside := walPath(path) + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	// A new file, not through a link planted at its name.
	if f, err := os.OpenFile(aside, os.O_WRONLY|os.O_CREATE|os.O_EXCL|safepath.NoFollow, 0o600); err == nil {
		_, _ = f.Write(data)
		f.Close()
	}
	s.notice = fmt.Sprintf("the job table's log %s was damaged at byte %d: what it held before the damage was kept, what came after it may be missing, and queued jobs were failed rather than risk running one twice (a copy of the log is at %s)", walPath(path), damaged, filepath.Base(aside))
	// The table has everything before the damage: the log starts over,
	// all of it written over with zeros and synced, so that nothing beyond
	// the damage is ever read as new.
	s.wal.off = s.wal.size
	s.wal.reset()
	return fdatasync(s.wal.f)
}

// failQueued fails every queued job in tx's table (NotStarted, or
// suspended while NotStarted), for reason.
func failQueued(tx *bolt.Tx, reason string) error {
	b := tx.Bucket(bucketJobs)
	now := time.Now()
	var rows []*Row
	err := b.ForEach(func(k, v []byte) error {
		r := new(Row)
		if json.Unmarshal(v, r) == nil && (r.State == api.NotStarted || r.State == api.Suspended && r.SuspendedFrom == api.NotStarted) {
			rows = append(rows, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		r.State, r.StateReason, r.PSEndTime = api.Failed, reason, &now
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put(idKey(r.ID), v); err != nil {
			return err
		}
	}
	return nil
}

var errClosed = errors.New("the job table is closed")
