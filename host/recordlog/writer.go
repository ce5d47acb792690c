package recordlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/bgjob/bgjob/host/internal/safepath"
	"google.golang.org/protobuf/encoding/protowire"
)

// Writer appends batches of framed records to one log.
type Writer struct {
	path string
	mu   sync.Mutex
	// pending marks a log Create made whose file is not made yet: no
	// record came. f is nil then, and after Close.
	pending bool
	f       *os.File
	size    int64  // bytes of whole records
	buf     []byte // the checked frames of the batch being appended, or their heads
	parts   []part // the pieces of those frames (see checkedParts)
	iov     [][]byte

	// Writeback behind the writer (see writeBehind): kicked is where the
	// last range handed to it ends, behind takes the next end.
	kicked     int64
	behind     chan int64
	behindDone chan struct{}
}

// writebackStep is how much a log grows between two starts of writeback.
const writebackStep = 8 << 20

// Open opens (creating if needed) the log at path for appending after its
// first size bytes; anything after them (a torn tail that Scan left out) is
// cut.
func Open(path string, size int64) (*Writer, error) {
	// Never through a link: cutting the torn tail would cut its target
	// (the system host writes as root).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|safepath.NoFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the record log: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot cut the torn tail of the record log %s: %w", path, err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{path: path, f: f, size: size}, nil
}

// Create returns a writer for a new, empty log at path whose file is made
// when the first records come: a job that prints nothing then costs no
// file and no sync, which were most of what its log cost (creating a file
// and syncing it, to make its entry durable, take a journal commit). A
// file left at path (by an earlier attempt of the job) is removed now, so
// that nothing there can pass for this log's records.
func Create(path string) (*Writer, error) {
	if err := safepath.RemoveFile(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot replace the record log %s: %w", path, err)
	}
	return &Writer{path: path, pending: true}, nil
}

// make makes a pending log's file, on its first records.
func (w *Writer) make() error {
	// Never through a link (the system host writes as root), and never
	// one that is there already: Create removed it, so one there now was
	// put there by someone else.
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_CREATE|os.O_EXCL|safepath.NoFollow, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create the record log: %w", err)
	}
	w.f, w.pending = f, false
	return nil
}

// Append writes b, whole framed records as a runtime sends them (a
// uvarint length, the record), each as a checked frame (see AppendChecked),
// in one write: where the system has writev, the records themselves are
// written from b, and only the frames' heads (and records too small to be
// worth a vector of their own) are gathered first.
func (w *Writer) Append(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending {
		if err := w.make(); err != nil {
			return err
		}
	}
	if w.f == nil {
		return errors.New("the record log is closed")
	}
	n, err := w.appendChecked(b)
	if err != nil {
		// Keep the file and size in step: cut what was partly written.
		_ = w.f.Truncate(w.size)
		_, _ = w.f.Seek(w.size, io.SeekStart)
		return fmt.Errorf("cannot write the record log %s: %w", w.path, err)
	}
	w.size += n
	if w.size-w.kicked >= writebackStep {
		w.writeBehind()
	}
	if cap(w.buf) > 4<<20 {
		w.buf = nil // a rare huge batch is not kept for ever
	}
	return nil
}

// Keep takes b, framed records as for Append, as the whole of a log that
// has no file yet (no records came before them), if as checked frames they
// come to at most max bytes: it returns those frames, which the caller
// keeps instead of a file (ReadKept reads them, and the caller knows where
// they end), and the writer takes nothing more. ok is false, and nothing
// done, otherwise.
//
// A job whose few records all come with its end (most a batch runs) then
// costs no file: making one, syncing it at the end and removing it with
// the job cost more than the rest of what the host does for such a job.
func (w *Writer) Keep(b []byte, max int) (kept []byte, ok bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.pending || len(b) > max {
		return nil, false, nil
	}
	kept, err = AppendChecked(nil, b)
	if err != nil || len(kept) > max {
		return nil, false, err
	}
	w.pending = false
	return kept, true, nil
}

// part is a piece of a batch's checked frames: a range of the writer's
// scratch buffer (inScratch) or of the batch.
type part struct {
	inScratch  bool
	start, end int
}

// smallRecord is the size below which a record is copied next to its head
// rather than written from where it is: a vector costs more than a copy of
// a few hundred bytes.
const smallRecord = 512

// checkedParts cuts batch into the pieces of its checked frames, in order:
// the heads go into *scratch (as do records shorter than smallRecord,
// beside their heads), larger records stay where they are in batch.
func checkedParts(scratch *[]byte, parts []part, batch []byte) ([]part, error) {
	buf := (*scratch)[:0]
	add := func(p part) {
		if n := len(parts); n > 0 && parts[n-1].inScratch == p.inScratch && parts[n-1].end == p.start {
			parts[n-1].end = p.end
			return
		}
		parts = append(parts, p)
	}
	for off := 0; off < len(batch); {
		n, k := protowire.ConsumeVarint(batch[off:])
		if k < 0 || uint64(len(batch)-off-k) < n {
			*scratch = buf
			return parts, errors.New("malformed batch")
		}
		rec := batch[off+k : off+k+int(n)]
		start := len(buf)
		buf = append(buf, checkedMark)
		buf = append(buf, batch[off:off+k]...)
		buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(rec, castagnoli))
		if len(rec) < smallRecord {
			buf = append(buf, rec...)
			add(part{true, start, len(buf)})
		} else {
			add(part{true, start, len(buf)})
			add(part{false, off + k, off + k + int(n)})
		}
		off += k + int(n)
	}
	*scratch = buf
	return parts, nil
}

// checkedMark begins a checked frame. An unchecked frame (the format
// before checksums) begins with its record's length, never 0: every record
// a runtime sends carries its sequence number, so none is empty.
const checkedMark = 0

// castagnoli is CRC-32C, which amd64 and arm64 compute in hardware: a
// checksum over every byte a job prints costs next to nothing.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendChecked appends the framed records of batch to dst as checked
// frames: the byte 0, the record's length (uvarint), the CRC-32C of the
// record's bytes (4 bytes, little-endian), the record's bytes. A reader
// tells a damaged record from a good one by the checksum.
func AppendChecked(dst, batch []byte) ([]byte, error) {
	for len(batch) > 0 {
		n, k := protowire.ConsumeVarint(batch)
		if k < 0 || uint64(len(batch)-k) < n {
			return dst, errors.New("malformed batch")
		}
		rec := batch[k : k+int(n)]
		dst = append(dst, checkedMark)
		dst = append(dst, batch[:k]...)
		dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(rec, castagnoli))
		dst = append(dst, rec...)
		batch = batch[k+int(n):]
	}
	return dst, nil
}

// Size is where the whole records end.
func (w *Writer) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Close syncs and closes the log; reading goes on through Read. Closing
// twice is not an error.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = false // no file, nothing to sync
	if w.f == nil {
		return nil
	}
	if w.behind != nil {
		close(w.behind)
		<-w.behindDone
		w.behind = nil
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// CloseUnsynced closes the log without making it durable: for a log about
// to be removed with its job, whose sync would be wasted. Syncing it later,
// if it stays after all, is SyncFile's.
func (w *Writer) CloseUnsynced() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = false
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// SyncFile makes the log at path durable after CloseUnsynced.
func SyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|safepath.NoFollow, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Sync makes what was appended durable (a Slurm task syncs each batch
// before the runtime may forget it: the host's page cache is not there to
// keep it).
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending {
		return nil // nothing written, nothing to make durable
	}
	if w.f == nil {
		return errors.New("the record log is closed")
	}
	return w.f.Sync()
}

// writeBehind has the system start writing what was appended so far to
// disk, without waiting for it, in a goroutine of the writer's own: a job
// that prints gigabytes would otherwise leave them all for the sync when
// it ends (seconds for a gigabyte), which its end, and every `wait` for
// it, waits for. The sync stays what makes the log durable.
func (w *Writer) writeBehind() {
	if w.behind == nil {
		w.behind, w.behindDone = make(chan int64, 1), make(chan struct{})
		go func(f *os.File, from int64) {
			defer close(w.behindDone)
			for end := range w.behind {
				startWriteback(f, from, end-from)
				from = end
			}
		}(w.f, w.kicked)
	}
	select {
	case w.behind <- w.size:
		w.kicked = w.size
	default:
		// Still at the last range: the next kick covers this one too.
	}
}
