package recordlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/sdk"
)

// checkedLog writes the sample records as the host does (checked frames)
// and returns the path and where each frame begins.
func checkedLog(t testing.TB) (string, []int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "1.log")
	w, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64
	for _, r := range sampleRecords() {
		starts = append(starts, w.Size())
		if err := w.Append(frame(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, starts
}

// flip changes the byte at off.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x20
	writeFile(t, path, b)
}

// A log the host wrote reads back whole, and its first byte says its
// frames carry checksums.
func TestChecksummedLogReads(t *testing.T) {
	path, starts := checkedLog(t)
	b, _ := os.ReadFile(path)
	if b[0] != checkedMark {
		t.Fatalf("the log begins with %#x, want the checked mark", b[0])
	}
	got, _, err := readAll(t, path, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "a checked log", got, sampleRecords())
	// From the middle, too (the reader learns the format from byte 0).
	got, _, err = readAll(t, path, starts[2], -1)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "a checked log from its third record", got, sampleRecords()[2:])
	if end, err := ScanFrom(path, End{Size: starts[2], LastSeq: 4}); err != nil || end.Size != int64(len(b)) || end.LastSeq != 6 {
		t.Errorf("ScanFrom the third record: %+v, %v", end, err)
	}
}

// One byte changed inside a record in the middle of a log: Read passes on
// the records before it and then reports damage naming the file and the
// damaged frame's offset; Scan reports it as damage too, not a torn tail.
// (Before checksums, a changed byte inside a chunk's text was read as good
// text.)
func TestChecksumDamageInMiddle(t *testing.T) {
	path, starts := checkedLog(t)
	// Inside the second record's text ("two\nthree\nfour\n"), at its end.
	flip(t, path, starts[2]-3)
	got, _, err := readAll(t, path, 0, -1)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read over a damaged record: %v, want ErrCorrupt", err)
	}
	if want := fmt.Sprintf("%s has a record whose bytes do not match its checksum at byte %d", path, starts[1]); !strings.Contains(err.Error(), want) {
		t.Errorf("Read: %v; want it to say %q", err, want)
	}
	sameRecords(t, "Read before the damage", got, sampleRecords()[:1])
	if _, _, err := scanLog(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Scan of a log damaged in the middle: %v, want ErrCorrupt", err)
	}
}

// One byte changed inside the last record, as a host killed mid-write can
// leave it: Scan takes it for a torn tail (cut, and the runtime sends the
// record again); Read, which holds the log to what the job table says it
// holds, reports it.
func TestChecksumDamageInLastFrame(t *testing.T) {
	path, starts := checkedLog(t)
	b, _ := os.ReadFile(path)
	flip(t, path, int64(len(b))-2)
	size, last, err := scanLog(path)
	if err != nil || size != starts[3] || last != 5 {
		t.Errorf("Scan = %d, %d, %v; want %d, 5, nil (a torn tail)", size, last, err, starts[3])
	}
	if _, _, err := readAll(t, path, 0, -1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Read over a damaged last record: %v, want ErrCorrupt", err)
	}
}

// In a log whose frames carry checksums, a frame without one is damage:
// a changed mark must not let a record pass unchecked.
func TestChecksumMarkDamaged(t *testing.T) {
	path, starts := checkedLog(t)
	flip(t, path, starts[1])
	if _, _, err := readAll(t, path, 0, -1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Read: %v, want ErrCorrupt", err)
	}
	if _, _, err := readAll(t, path, starts[1], -1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Read from the damaged frame: %v, want ErrCorrupt", err)
	}
}

// A record whose length was damaged so that it runs past the end of the
// log looks like a torn tail; with whole records after it, Scan reports
// damage instead of leaving them out (the log would have been cut there,
// and they lost without a word). A frame really cut short at the end is
// still a torn tail.
func TestChecksumLengthRunsPastTheEnd(t *testing.T) {
	path, starts := checkedLog(t)
	b, _ := os.ReadFile(path)
	if b[starts[1]+1] >= 0x80 {
		t.Fatal("the second record's length is not one byte")
	}
	for _, damage := range [][]byte{
		{0x7f},       // one byte changed in place: the record's fields end where it did
		{0xff, 0x7f}, // a longer length, over the checksum
	} {
		bad := bytes.Clone(b)
		copy(bad[starts[1]+1:], damage)
		writeFile(t, path, bad)
		if size, _, err := scanLog(path); !errors.Is(err, ErrCorrupt) || size != starts[1] {
			t.Errorf("Scan with a length % x run past the end mid-log = %d, %v; want %d, ErrCorrupt", damage, size, err, starts[1])
		}
		if end, err := ScanFrom(path, End{Size: starts[1], LastSeq: 1}); !errors.Is(err, ErrCorrupt) || end.Size != starts[1] {
			t.Errorf("ScanFrom the damaged record, length % x = %+v, %v; want ErrCorrupt at %d", damage, end, err, starts[1])
		}
		if err := Read(path, starts[1], int64(len(bad)), func(*sdk.Record, int64) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Read from the damaged record, length % x: %v, want ErrCorrupt", damage, err)
		}
	}
	torn := bytes.Clone(b[:len(b)-3])
	writeFile(t, path, torn)
	if size, last, err := scanLog(path); err != nil || size != starts[3] || last != 5 {
		t.Errorf("Scan of a torn tail = %d, %d, %v; want %d, 5, nil", size, last, err, starts[3])
	}
}

// A torn tail whose record is the text of a job that printed a record log
// holds whole records inside that text: they are part of the record cut
// short, not records after it, and the tail is still a torn tail.
func TestChecksumTornTailHoldingRecords(t *testing.T) {
	path, _ := checkedLog(t)
	b, _ := os.ReadFile(path)
	w, err := Open(path, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(frame(t, chunkRec(7, string(b)))); err != nil { // a whole record log, as a job's output
		t.Fatal(err)
	}
	w.Close()
	whole, _ := os.ReadFile(path)
	writeFile(t, path, whole[:len(b)+(len(whole)-len(b))*3/4])
	if size, lastSeq, err := scanLog(path); err != nil || size != int64(len(b)) || lastSeq != 6 {
		t.Errorf("Scan of a torn tail holding records = %d, %d, %v; want %d, 6, nil", size, lastSeq, err, len(b))
	}
}

// A log shorter than the job table says, ending between records, is
// ErrTruncated to Read: what the table says is missing.
func TestReadPastTheEndOfTheLog(t *testing.T) {
	path, starts := checkedLog(t)
	b, _ := os.ReadFile(path)
	writeFile(t, path, b[:starts[2]])
	for _, from := range []int64{0, starts[1]} {
		err := Read(path, from, int64(len(b)), func(*sdk.Record, int64) error { return nil })
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("Read from %d to %d of a log of %d bytes: %v, want ErrTruncated", from, len(b), starts[2], err)
		}
	}
}

// BenchmarkScanCandidateTail scans a log whose last record's length was
// damaged to run past the end, followed by 1 MiB made of near-records (a
// mark, a length reaching almost to the end, a checksum, a record's first
// byte) every 16 bytes, none whole: what recovery pays for the worst such
// damage. The checksums computed are bounded by a few times the tail, so
// this is linear in it, not quadratic.
func BenchmarkScanCandidateTail(b *testing.B) {
	path, starts := checkedLog(b)
	log, _ := os.ReadFile(path)
	const tail = 1 << 20
	bad := bytes.Clone(log[:starts[3]])
	bad = append(bad, checkedMark)
	bad = binary.AppendUvarint(bad, tail+64) // runs past the end
	bad = append(bad, 0, 0, 0, 0, 0x08, 0x01)
	for int64(len(bad))-starts[3] < tail {
		l := uint64(tail - (int64(len(bad)) - starts[3]) - 16)
		c := append([]byte{checkedMark}, binary.AppendUvarint(nil, l)...)
		c = append(c, 1, 2, 3, 4, 0x08)
		bad = append(bad, c...)
		bad = append(bad, make([]byte, 16-len(c)%16)...)
	}
	p := filepath.Join(b.TempDir(), "1.log")
	os.WriteFile(p, bad, 0o600)
	for b.Loop() {
		if _, err := Scan(p); err != nil {
			b.Fatal(err)
		}
	}
}
