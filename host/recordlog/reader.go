package recordlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/bgjob/bgjob/host/internal/safepath"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/encoding/protowire"
)

// MaxRecord bounds one record: a runtime never sends more in one (the
// SDK refuses to, and its text chunks are 64 KiB), so a larger length in a
// log is damage, not data, and in a batch a runtime's fault (Fresh).
const MaxRecord = sdk.MaxRecord

// Errors a reader reports, wrapped with where it happened.
var (
	// ErrCorrupt: bytes that are not records, followed by more bytes.
	ErrCorrupt = errors.New("the record log is corrupt")
	// ErrTruncated: the log ends before the records the job table says
	// it holds.
	ErrTruncated = errors.New("the record log is shorter than recorded")
)

// End is where a log's whole records end.
type End struct {
	Size    int64  // bytes of whole records
	LastSeq uint64 // the last sequence number in them; 0 for none
}

// Scan reads the whole log at path and returns where its whole records
// end. A torn tail is left out, not an error; a missing log is empty.
func Scan(path string) (End, error) { return ScanFrom(path, End{}) }

// openLog opens a log for reading, not through a link (whose target a
// user could then read back as records).
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|safepath.NoFollow, 0)
}

// ScanFrom is Scan for a log known to hold whole records up to from.Size,
// the last of them numbered from.LastSeq: it reads only what follows.
func ScanFrom(path string, from End) (End, error) {
	f, err := openLog(path)
	if errors.Is(err, os.ErrNotExist) && from.Size == 0 {
		// No file: no records in it, but records handed to a receiver
		// straight from the relay are numbered all the same.
		return End{LastSeq: from.LastSeq}, nil
	}
	if err != nil {
		return from, fmt.Errorf("cannot read the record log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return from, fmt.Errorf("cannot read the record log: %w", err)
	}
	if fi.Size() < from.Size {
		return from, fmt.Errorf("%w: %s has %d bytes, but records up to byte %d were written", ErrTruncated, path, fi.Size(), from.Size)
	}
	checked, err := isChecked(f, from.Size)
	if err != nil {
		return from, fmt.Errorf("cannot read the record log %s: %w", path, err)
	}
	if _, err := f.Seek(from.Size, io.SeekStart); err != nil {
		return from, err
	}
	// The file also reads at will: what looks like a torn tail is
	// checked for whole records after it.
	return scanFromAt(f, f, from, fi.Size(), path, checked)
}

// isChecked reports whether the log in f is one whose frames all carry a
// checksum: its first byte is a checked frame's mark. Only a reader that
// starts past byte 0 needs to ask; one that starts there sees it.
func isChecked(f *os.File, from int64) (bool, error) {
	if from == 0 {
		return false, nil
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return false, err
	}
	return b[0] == checkedMark, nil
}

// scan reads a whole log of size bytes from r.
func scan(r io.Reader, size int64, name string) (End, error) {
	return scanFrom(r, End{}, size, name, false)
}

// scanFrom reads frames from r, which starts after the whole records of
// from, up to byte limit of the log.
func scanFrom(r io.Reader, from End, limit int64, name string, checked bool) (End, error) {
	var ra io.ReaderAt
	if from.Size == 0 {
		ra, _ = r.(io.ReaderAt) // a bytes.Reader of a whole log
	}
	return scanFromAt(r, ra, from, limit, name, checked)
}

// scanFromAt is scanFrom with ra, if not nil, reading the same log at
// will (see frameReader.ra).
func scanFromAt(r io.Reader, ra io.ReaderAt, from End, limit int64, name string, checked bool) (End, error) {
	end := from
	rd := newFrameReader(r, from.Size, limit, name, true)
	rd.checkedLog = checked
	rd.ra = ra
	var rec sdk.Record
	for {
		off, err := rd.next(&rec)
		if err == io.EOF {
			return end, nil
		}
		if err != nil {
			return end, err
		}
		end.Size = off
		end.LastSeq = rec.Seq + uint64(max(rec.Count, 1)) - 1
	}
}

// Read calls fn for each record between byte offsets from and to, with the
// offset just after it; the record is reused between calls. Everything
// there must be whole records: a log that ends early is ErrTruncated.
func Read(path string, from, to int64, fn func(r *sdk.Record, end int64) error) error {
	f, err := openLog(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if from >= to {
				return nil // nothing asked for: a log that had no records has no file (Create)
			}
			return fmt.Errorf("%w: %s is missing", ErrTruncated, path)
		}
		return fmt.Errorf("cannot read the record log: %w", err)
	}
	defer f.Close()
	checked, err := isChecked(f, from)
	if err != nil {
		return fmt.Errorf("cannot read the record log %s: %w", path, err)
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	return readFrames(f, f, path, checked, from, to, fn)
}

// ReadKept is Read over a log Keep kept in memory.
func ReadKept(log []byte, from, to int64, fn func(r *sdk.Record, end int64) error) error {
	if to > int64(len(log)) {
		return fmt.Errorf("%w: the records kept with the job end at %d, not %d", ErrTruncated, len(log), to)
	}
	if from >= to {
		return nil
	}
	return readFrames(bytes.NewReader(log[from:to]), bytes.NewReader(log), "the records kept with the job", true, from, to, fn)
}

// readFrames calls fn for each record r holds, from offset from (where r
// is) up to to; checked says the log's frames are checked ones. ra, if not
// nil, reads the same log at will (see frameReader.ra).
func readFrames(r io.Reader, ra io.ReaderAt, name string, checked bool, from, to int64, fn func(r *sdk.Record, end int64) error) error {
	rd := newFrameReader(r, from, to, name, false)
	rd.checkedLog = checked
	rd.ra = ra
	var rec sdk.Record
	for {
		off, err := rd.next(&rec)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(&rec, off); err != nil {
			return err
		}
	}
}

// frameReader reads framed records from offset off up to limit.
type frameReader struct {
	br       *bufio.Reader
	off      int64
	limit    int64
	name     string
	tornTail bool // a bad last frame ends the log quietly (Scan), or is ErrTruncated (Read)
	// checkedLog: the log's first frame is checked, so every frame must
	// be. A log an older host began may go on in checked frames (a job
	// that ran across the upgrade), so there either kind is read.
	checkedLog bool
	buf        []byte
	// ra reads the same log at will, at the offsets off counts in, for
	// the check of a frame cut short (see short); nil: none is made.
	ra io.ReaderAt
}

func newFrameReader(r io.Reader, off, limit int64, name string, tornTail bool) *frameReader {
	// No bigger a buffer than what is to be read: a log of a few records
	// (Keep's) is read often, and whole.
	size := 256 << 10
	if n := limit - off; n >= 0 && n < int64(size) {
		size = int(n)
	}
	return &frameReader{br: bufio.NewReaderSize(r, size), off: off, limit: limit, name: name, tornTail: tornTail}
}

// next decodes the next record into rec and returns the offset after it;
// io.EOF at the end. A frame is checked (the mark 0, the length, the
// record's CRC-32C, the record) or, as an older host wrote them, the
// length and the record.
func (f *frameReader) next(rec *sdk.Record) (int64, error) {
	if f.off >= f.limit {
		return 0, io.EOF
	}
	mark, err := f.br.ReadByte()
	if err != nil {
		if isShort(err) {
			return 0, f.short()
		}
		return 0, f.ioError(err)
	}
	head := int64(0) // the mark and the checksum
	if mark == checkedMark {
		head = 1 + 4
		if f.off == 0 {
			f.checkedLog = true
		}
	} else {
		if f.checkedLog {
			return 0, f.corrupt("a frame without a checksum where every frame has one")
		}
		_ = f.br.UnreadByte()
	}
	n, k, err := readUvarint(f.br)
	if err != nil {
		if isShort(err) || (err == io.EOF && head > 0) {
			return 0, f.short()
		}
		if errors.Is(err, errOverflow) {
			if f.limit-f.off <= head+binary.MaxVarintLen64 {
				return 0, f.short()
			}
			return 0, f.corrupt("a record length that is not a number")
		}
		return 0, f.ioError(err)
	}
	// No writer frames an empty record (see checkFraming). Zeros are what
	// a power loss leaves where a log's last blocks were never written
	// (its size durable, its data not; XFS, or ext4 in writeback mode):
	// a torn tail when zeros run to the end, and damage otherwise, never
	// records (the checksum of no bytes is zero).
	if n == 0 {
		read := f.off + int64(k) // the length, and the mark if any
		if head > 0 {
			read++
		}
		if f.tornTail && f.zerosToEnd(read) {
			return 0, io.EOF
		}
		return 0, f.corrupt("an empty record")
	}
	// No runtime writes a record this large, so this is damage, never a
	// write the host was killed in.
	if n > MaxRecord {
		return 0, f.corrupt(fmt.Sprintf("a record length of %d bytes", n))
	}
	end := f.off + head + int64(k) + int64(n)
	if end > f.limit {
		return 0, f.short() // the frame runs past the end
	}
	var sum [4]byte
	if head > 0 {
		if _, err := io.ReadFull(f.br, sum[:]); err != nil {
			if isShort(err) {
				return 0, f.short()
			}
			return 0, f.ioError(err)
		}
	}
	if uint64(cap(f.buf)) < n {
		f.buf = make([]byte, n)
	}
	f.buf = f.buf[:n]
	if _, err := io.ReadFull(f.br, f.buf); err != nil {
		if isShort(err) {
			return 0, f.short()
		}
		return 0, f.ioError(err)
	}
	// Damaged bytes must never pass for a record: a checked frame whose
	// bytes do not match its checksum is damage (or, as the last frame
	// of a log being recovered, a torn tail).
	if head > 0 && binary.LittleEndian.Uint32(sum[:]) != crc32.Checksum(f.buf, castagnoli) {
		return 0, f.bad(end, "a record whose bytes do not match its checksum")
	}
	if err := Decode(f.buf, rec); err != nil {
		return 0, f.bad(end, "bytes that are not a record ("+err.Error()+")")
	}
	f.off = end
	return end, nil
}

// short is a frame the log ends inside of, or a bad last frame.
//
// A host killed mid-write leaves a frame cut short at the end: a torn
// tail, which Scan leaves out. But a frame whose length was damaged, so
// that it runs past the end, looks the same; cut as a torn tail, the whole
// records after it would be lost without a word. So when ra can read the
// log, such a frame with a whole checked record after the end of its own
// record is damage (recordsAfter).
func (f *frameReader) short() error {
	if f.checkedLog && f.ra != nil && f.recordsAfter() {
		return f.corrupt("a record that runs past the end of the log, with whole records after it")
	}
	if f.tornTail {
		return io.EOF
	}
	return fmt.Errorf("%w: %s ends inside the record at byte %d", ErrTruncated, f.name, f.off)
}

// maxFrame is the most a frame can take: the mark, the length, the
// checksum and the largest record.
const maxFrame = 1 + binary.MaxVarintLen64 + 4 + MaxRecord

// recordsAfter reports whether a whole checked record begins after the
// record of the frame at f.off ends. What follows that frame is less than
// one frame (it runs past the end, and no frame is larger than maxFrame),
// so it is read whole, once.
//
// The frame's record is read field by field (recordEnd): a torn tail's
// last field runs past the end, and then nothing is looked for, so that
// what is inside it (the text of a job that printed a record log) is not
// taken for records after it. Otherwise the record ends where its fields
// do, which is where the next frame begins when only the length was
// damaged: that place is tried first. Elsewhere a position is a candidate
// only with a frame's mark, a length that fits and, after the checksum, a
// record's first byte (its number, field 1: every record has one); the
// checksums computed are bounded by a few times what is read, so damage
// made of candidates costs no more than that.
func (f *frameReader) recordsAfter() bool {
	b := make([]byte, min(f.limit-f.off, maxFrame))
	n, err := f.ra.ReadAt(b, f.off)
	if err != nil && err != io.EOF {
		return false
	}
	b = b[:n]
	end := recordEnd(b)
	if end >= len(b) {
		return false
	}
	budget := 4*len(b) + 64<<10
	if recordAt(b, end, &budget) {
		return true
	}
	for i := end + 1; i < len(b) && budget > 0; i++ {
		if recordAt(b, i, &budget) {
			return true
		}
	}
	return false
}

// recordEnd is where the record of the frame at the start of b ends as
// its own fields say, read one after the other; len(b) when one of them
// runs past the end of b (cut short), or when b is too short to tell.
func recordEnd(b []byte) int {
	if len(b) < 2 {
		return len(b)
	}
	_, k := binary.Uvarint(b[1:])
	if k <= 0 {
		return 1
	}
	p := 1 + k + 4 // the mark, the length, the checksum
	if p >= len(b) {
		return len(b)
	}
	for p < len(b) {
		num, typ, n := protowire.ConsumeTag(b[p:])
		if n < 0 {
			break // not a field: the record ends here, or is damaged here
		}
		m := protowire.ConsumeFieldValue(num, typ, b[p+n:])
		if m < 0 {
			if protowire.ParseError(m) == io.ErrUnexpectedEOF {
				return len(b) // cut short
			}
			break
		}
		p += n + m
	}
	return p
}

// recordAt reports whether a whole checked record begins at b[i], taking
// what its checksum costs from budget.
func recordAt(b []byte, i int, budget *int) bool {
	if b[i] != checkedMark {
		return false
	}
	l, k := binary.Uvarint(b[i+1:])
	if k <= 0 || l == 0 || l > MaxRecord {
		return false
	}
	sum := i + 1 + k
	rec := sum + 4
	if rec+int(l) > len(b) || b[rec] != 0x08 {
		return false
	}
	if *budget -= int(l); *budget < 0 {
		return false
	}
	if binary.LittleEndian.Uint32(b[sum:]) != crc32.Checksum(b[rec:rec+int(l)], castagnoli) {
		return false
	}
	var r sdk.Record
	return Decode(b[rec:rec+int(l)], &r) == nil
}

// bad is a whole frame that is not a record: a torn tail if it is the last
// one and the reader allows that, damage otherwise.
func (f *frameReader) bad(end int64, what string) error {
	if f.tornTail && (end == f.limit || f.zerosToEnd(end)) {
		return io.EOF
	}
	return f.corrupt(what)
}

// zerosToEnd reports whether the log holds only zero bytes from pos, where
// the reader is, to its end: the last frame's blocks lost to a power loss,
// a torn tail. It reads them; the frame reader is done after it either way.
func (f *frameReader) zerosToEnd(pos int64) bool {
	if pos > f.limit {
		return false
	}
	buf := make([]byte, min(f.limit-pos, 64<<10))
	for pos < f.limit {
		n, err := io.ReadFull(f.br, buf[:min(int64(len(buf)), f.limit-pos)])
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		pos += int64(n)
		if err != nil {
			return false
		}
	}
	return true
}

func (f *frameReader) corrupt(what string) error {
	return fmt.Errorf("%w: %s has %s at byte %d", ErrCorrupt, f.name, what, f.off)
}

func (f *frameReader) ioError(err error) error {
	return fmt.Errorf("cannot read the record log %s at byte %d: %w", f.name, f.off, err)
}

func isShort(err error) bool { return err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) }

var errOverflow = errors.New("uvarint overflows 64 bits")

// readUvarint is binary.ReadUvarint that also says how many bytes it read,
// and tells a short read (io.ErrUnexpectedEOF) from a read error.
func readUvarint(r io.ByteReader) (uint64, int, error) {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return x, i, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return x, i + 1, errOverflow
			}
			return x | uint64(b)<<s, i + 1, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return x, binary.MaxVarintLen64, errOverflow
}

// Each calls fn for each framed record in a batch, with its whole framed
// bytes; the record is reused between calls.
func Each(batch []byte, fn func(r *sdk.Record, whole []byte) error) error {
	var r sdk.Record
	for len(batch) > 0 {
		n, k := protowire.ConsumeVarint(batch)
		if k < 0 || uint64(len(batch)-k) < n {
			return errors.New("malformed batch")
		}
		if err := Decode(batch[k:k+int(n)], &r); err != nil {
			return err
		}
		if err := fn(&r, batch[:k+int(n)]); err != nil {
			return err
		}
		batch = batch[k+int(n):]
	}
	return nil
}

// After returns the records of a batch whose sequence numbers lie after
// seq, for a batch the host has partly persisted already.
func After(batch []byte, seq uint64) ([]byte, error) {
	var out []byte
	err := Each(batch, func(r *sdk.Record, whole []byte) error {
		if r.Seq > seq {
			out = append(out, whole...)
		}
		return nil
	})
	return out, err
}

// Fresh returns the records of b numbered after persisted, for a writer
// that holds the records up to persisted already (a runtime resends what
// was not acknowledged); nil if there are none.
//
// The batch's framing is checked first, each record at most MaxRecord: a
// record stored larger could never be read back, and it and every record
// after it would be lost to receive as damage.
func Fresh(b *sdk.Batch, persisted uint64) ([]byte, error) {
	if err := checkFraming(b.Records); err != nil {
		return nil, err
	}
	switch {
	case len(b.Records) == 0 || b.LastSeq <= persisted:
		return nil, nil
	case b.FirstSeq > persisted:
		return b.Records, nil
	}
	return After(b.Records, persisted)
}

// checkFraming checks that batch is whole length-prefixed records, each
// of 1 to MaxRecord bytes.
func checkFraming(batch []byte) error {
	for off := 0; off < len(batch); {
		n, k := protowire.ConsumeVarint(batch[off:])
		switch {
		case k < 0 || uint64(len(batch)-off-k) < n:
			return fmt.Errorf("a record's length at byte %d runs past the batch's %d bytes", off, len(batch))
		case n == 0:
			return fmt.Errorf("an empty record at byte %d", off)
		case n > MaxRecord:
			return fmt.Errorf("a record of %d bytes at byte %d; at most %d (64 MiB) go in one", n, off, MaxRecord)
		}
		off += k + int(n)
	}
	return nil
}

// Plain turns whole frames as a log holds them (checked, or as an older
// host wrote them) back into a batch as a runtime sends it, checking each
// checksum on the way, for a writer that copies one log's records into
// another: Append takes a batch, and a log's bytes are not one.
func Plain(frames []byte) ([]byte, error) {
	out := make([]byte, 0, len(frames))
	for len(frames) > 0 {
		checked := frames[0] == checkedMark
		if checked {
			frames = frames[1:]
		}
		n, k := protowire.ConsumeVarint(frames)
		head := k
		if checked {
			head += 4
		}
		if k < 0 || len(frames) < head || uint64(len(frames)-head) < n {
			return nil, fmt.Errorf("%w: a frame that runs past the bytes given", ErrCorrupt)
		}
		rec := frames[head : head+int(n)]
		if checked && binary.LittleEndian.Uint32(frames[k:]) != crc32.Checksum(rec, castagnoli) {
			return nil, fmt.Errorf("%w: a record whose bytes do not match its checksum", ErrCorrupt)
		}
		out = append(out, frames[:k]...)
		out = append(out, rec...)
		frames = frames[head+int(n):]
	}
	return out, nil
}
