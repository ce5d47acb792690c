package host

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// recordLog is one job's records on disk: an append-only file of
// protodelim-framed records, exactly the bytes the runtime put in its
// batches, so persisting a batch is one write and memory stays flat however
// much a job prints. It is not fsynced per batch: what the host has written
// survives the host being killed (it is in the kernel's page cache), and the
// log is synced once when the job ends.
type recordLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
	size int64 // bytes of whole records
}

func createLog(path string, size int64) (*recordLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the record log: %w", err)
	}
	// Drop a torn record left by a host that died mid-write; the runtime
	// still holds it and sends it again.
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot repair the record log: %w", err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &recordLog{path: path, f: f, size: size}, nil
}

func (l *recordLog) append(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("the record log is closed")
	}
	if _, err := l.f.Write(b); err != nil {
		// Keep the file and size in step: cut what was partly written.
		_ = l.f.Truncate(l.size)
		_, _ = l.f.Seek(l.size, io.SeekStart)
		return fmt.Errorf("cannot write the record log %s: %w", l.path, err)
	}
	l.size += int64(len(b))
	return nil
}

func (l *recordLog) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// close syncs and closes the writer; reading goes on through readLog.
func (l *recordLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// scanLog finds the end of the last whole record in the log at path and the
// last sequence number in it.
func scanLog(path string) (size int64, lastSeq uint64, err error) {
	err = readLog(path, 0, -1, func(r *sdk.Record, end int64) error {
		size = end
		lastSeq = r.Seq + uint64(max(r.Count, 1)) - 1
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return size, lastSeq, err
}

// readLog calls fn for each record between byte offsets from and to (to < 0:
// the end of the file), with the offset just after it. The record is reused
// between calls. A torn record at the end is not an error.
func readLog(path string, from, to int64, fn func(r *sdk.Record, end int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var (
		rec sdk.Record
		buf []byte
		off = from
	)
	for to < 0 || off < to {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return nil // a torn length prefix
		}
		if n > 64<<20 {
			return fmt.Errorf("record log %s is corrupt at byte %d", path, off)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil // a torn record
		}
		off += int64(protowire.SizeVarint(n)) + int64(n)
		if err := decodeRecord(buf, &rec); err != nil {
			return fmt.Errorf("record log %s is corrupt at byte %d: %w", path, off, err)
		}
		if err := fn(&rec, off); err != nil {
			return err
		}
	}
	return nil
}

// eachRecord calls fn for each protodelim-framed record in b; the record is
// reused between calls.
func eachRecord(b []byte, fn func(r *sdk.Record, whole []byte) error) error {
	var r sdk.Record
	for len(b) > 0 {
		n, k := protowire.ConsumeVarint(b)
		if k < 0 || uint64(len(b)-k) < n {
			return errors.New("malformed batch")
		}
		if err := decodeRecord(b[k:k+int(n)], &r); err != nil {
			return err
		}
		if err := fn(&r, b[:k+int(n)]); err != nil {
			return err
		}
		b = b[k+int(n):]
	}
	return nil
}

// recordsAfter returns the records of a batch whose sequence numbers lie
// after seq, for a batch that the host has partly persisted already.
func recordsAfter(b []byte, seq uint64) ([]byte, error) {
	var out []byte
	err := eachRecord(b, func(r *sdk.Record, whole []byte) error {
		if r.Seq > seq {
			out = append(out, whole...)
		}
		return nil
	})
	return out, err
}

// decodeRecord fills r from b. Text a job printed, the bulk of any large
// output, is decoded by hand with Chunk aliasing b, which saves a copy of
// every byte; any other record goes through proto.Unmarshal.
func decodeRecord(b []byte, r *sdk.Record) error {
	r.Reset()
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return protowire.ParseError(n)
		}
		rest = rest[n:]
		if typ == protowire.BytesType && num == 4 {
			v, n := protowire.ConsumeBytes(rest)
			if n < 0 {
				return protowire.ParseError(n)
			}
			r.Chunk, rest = v, rest[n:]
			continue
		}
		if typ != protowire.VarintType || num > 5 || num == 4 {
			r.Reset()
			return proto.Unmarshal(b, r)
		}
		v, n := protowire.ConsumeVarint(rest)
		if n < 0 {
			return protowire.ParseError(n)
		}
		rest = rest[n:]
		switch num {
		case 1:
			r.Seq = v
		case 2:
			r.TimeUnixNano = int64(v)
		case 3:
			r.Stream = sdk.Stream(v)
		case 5:
			r.Count = uint32(v)
		}
	}
	return nil
}
