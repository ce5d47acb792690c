package recordlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/encoding/protowire"
)

// The checked-in seeds of these targets are in testdata/fuzz/<target>/; the
// ones added here are rebuilt from the current record encoding, so they
// stay meaningful if it changes.

// framedLog is a log holding recs, framed with AppendFramed as the writer
// frames them.
func framedLog(tb testing.TB, recs ...*sdk.Record) []byte {
	tb.Helper()
	var b []byte
	for _, r := range recs {
		var err error
		if b, err = AppendFramed(b, r); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// logSeeds are whole logs and the ways a log gets damaged: a write torn by
// a crash, garbage as the last frame or in the middle, impossible lengths.
func logSeeds(tb testing.TB) [][]byte {
	whole := framedLog(tb, sampleRecords()...)
	first := len(framedLog(tb, sampleRecords()[0]))
	more := framedLog(tb, chunkRec(7, "seven\n"))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// The format with checksums, as the host writes it, and its damage:
	// a byte changed in the middle or in the last frame, a torn last
	// frame, a frame without a checksum among checked ones, and an older
	// host's log going on in checked frames.
	checked, err := AppendChecked(nil, whole)
	if err != nil {
		tb.Fatal(err)
	}
	checkedMore, _ := AppendChecked(nil, more)
	flipped := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0x20
		return b
	}
	return [][]byte{
		checked,
		flipped(checked, len(checked)/2),
		flipped(checked, len(checked)-2),
		checked[:len(checked)-3],
		checked[:3],
		cat(checked, more),
		cat(whole, checkedMore),
		cat(checkedMore, whole),
		{},
		whole,
		framedLog(tb, &sdk.Record{}),            // one empty record: a zero length
		whole[:len(whole)-1],                    // torn inside the last record
		whole[:first+1],                         // torn after the second length
		cat(whole, []byte{3, 0xff, 0xff, 0xff}), // garbage as the last frame
		cat(whole, []byte{3, 0xff, 0xff, 0xff}, more),    // garbage between records
		cat(whole, protowire.AppendVarint(nil, 1<<40)),   // a length no record has
		cat(whole, bytes.Repeat([]byte{0xff}, 11), more), // a length that overflows
		cat(whole, bytes.Repeat([]byte{0x80}, 5)),        // torn inside a length
	}
}

// lastSeq is the last sequence number a record covers, as Scan counts it.
func lastSeq(r *sdk.Record) uint64 { return r.Seq + uint64(max(r.Count, 1)) - 1 }

// readBack reads the log at path between from and to, checking the offsets
// Read reports, and returns the last record's last sequence number (0 for
// none) and the offset after it (from for none).
func readBack(t *testing.T, path string, from, to int64) (seq uint64, end int64, err error) {
	t.Helper()
	end = from
	err = Read(path, from, to, func(r *sdk.Record, off int64) error {
		if off <= end || off > to {
			t.Fatalf("Read reported a record ending at %d after one ending at %d, reading to %d", off, end, to)
		}
		seq, end = lastSeq(r), off
		return nil
	})
	return seq, end, err
}

func writeLog(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzScan checks what recovery relies on: Scan finds where whole records
// end, those records read back, cutting the log there leaves a log Scan
// accepts whole, and what Scan calls corrupt Read does too.
func FuzzScan(f *testing.F) {
	for _, b := range logSeeds(f) {
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "fuzz.log")
	f.Fuzz(func(t *testing.T, b []byte) {
		size := int64(len(b))
		end, err := scan(bytes.NewReader(b), size, "fuzz.log")
		if end.Size < 0 || end.Size > size {
			t.Fatalf("scan: whole records end at %d in %d bytes", end.Size, size)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("scan of a bytes.Reader: %v, want nil or ErrCorrupt", err)
		}

		writeLog(t, path, b)
		fend, ferr := Scan(path)
		if fend != end || (ferr == nil) != (err == nil) {
			t.Fatalf("Scan = %+v, %v; scan = %+v, %v", fend, ferr, end, err)
		}

		// The whole records read back, up to the same last sequence number.
		seq, got, rerr := readBack(t, path, 0, end.Size)
		if rerr != nil {
			t.Fatalf("Read to the end Scan found (%d): %v", end.Size, rerr)
		}
		if got != end.Size {
			t.Fatalf("Read's last record ends at %d, Scan's at %d", got, end.Size)
		}
		if seq != end.LastSeq {
			t.Fatalf("Read's last sequence number is %d, Scan's %d", seq, end.LastSeq)
		}

		// Reading all of it is an error exactly when Scan left something
		// out, and damage to Scan is damage to Read.
		_, _, rerr = readBack(t, path, 0, size)
		switch {
		case err != nil:
			if !errors.Is(rerr, ErrCorrupt) {
				t.Fatalf("scan: %v, but Read of all of it: %v", err, rerr)
			}
		case end.Size == size:
			if rerr != nil {
				t.Fatalf("scan read all %d bytes, but Read: %v", size, rerr)
			}
		default:
			if !errors.Is(rerr, ErrTruncated) && !errors.Is(rerr, ErrCorrupt) {
				t.Fatalf("scan left out a torn tail from %d of %d bytes, but Read of all of it: %v", end.Size, size, rerr)
			}
		}

		// Recovery cuts a torn tail off; what is left scans whole.
		if err == nil && end.Size < size {
			cut, err := scan(bytes.NewReader(b[:end.Size]), end.Size, "fuzz.log")
			if err != nil || cut != end {
				t.Fatalf("the log cut at %d scans to %+v, %v; want %+v", end.Size, cut, err, end)
			}
		}
	})
}

// FuzzRead checks that Read of any bytes as whole records reports records
// in order and fails only with ErrCorrupt or ErrTruncated.
func FuzzRead(f *testing.F) {
	for _, b := range logSeeds(f) {
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "fuzz.log")
	f.Fuzz(func(t *testing.T, b []byte) {
		writeLog(t, path, b)
		size := int64(len(b))
		_, end, err := readBack(t, path, 0, size)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("Read: %v, want nil, ErrCorrupt or ErrTruncated", err)
			}
			return
		}
		if end != size {
			t.Fatalf("Read succeeded, but its last record ends at %d of %d bytes", end, size)
		}
	})
}
