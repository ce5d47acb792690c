package recordlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// frame returns the records protodelim-framed, as a runtime's batch and the
// record log hold them.
func frame(t testing.TB, recs ...*sdk.Record) []byte {
	t.Helper()
	var out []byte
	for _, r := range recs {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = protowire.AppendVarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

func chunkRec(seq uint64, text string) *sdk.Record {
	n := uint32(bytes.Count([]byte(text), []byte{'\n'}))
	if len(text) > 0 && text[len(text)-1] != '\n' {
		n++
	}
	return &sdk.Record{Seq: seq, TimeUnixNano: 1_700_000_000_000_000_000 + int64(seq), Stream: sdk.Output, Chunk: []byte(text), Count: n}
}

// sampleRecords is a log's worth of records: seqs 1, 2-4 (a chunk of three
// lines), 5 (a message record), 6.
func sampleRecords() []*sdk.Record {
	return []*sdk.Record{
		chunkRec(1, "one\n"),
		chunkRec(2, "two\nthree\nfour\n"),
		{Seq: 5, TimeUnixNano: 5, Stream: sdk.Error, Message: "bad", Error: &sdk.ErrorDetail{Category: "InvalidData", ErrorId: "E1"}},
		chunkRec(6, "six\n"),
	}
}

// scanLog is Scan with its result unpacked.
func scanLog(path string) (int64, uint64, error) {
	e, err := Scan(path)
	return e.Size, e.LastSeq, err
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// readAll reads the log at path with readLog from..to and returns clones of
// its records and their end offsets.
// A negative to reads to the end of the file.
func readAll(t *testing.T, path string, from, to int64) ([]*sdk.Record, []int64, error) {
	t.Helper()
	if to < 0 {
		to = 0
		if fi, err := os.Stat(path); err == nil {
			to = fi.Size()
		}
	}
	var recs []*sdk.Record
	var ends []int64
	err := Read(path, from, to, func(r *sdk.Record, end int64) error {
		recs = append(recs, proto.Clone(r).(*sdk.Record))
		ends = append(ends, end)
		return nil
	})
	return recs, ends, err
}

func sameRecords(t *testing.T, what string, got, want []*sdk.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s: record %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestScanAndReadLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "1.log")
	recs := sampleRecords()
	whole := frame(t, recs...)
	writeFile(t, path, whole)

	size, last, err := scanLog(path)
	if err != nil || size != int64(len(whole)) || last != 6 {
		t.Errorf("scanLog = %d, %d, %v; want %d, 6, nil", size, last, err, len(whole))
	}
	got, ends, err := readAll(t, path, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "readLog", got, recs)
	// Each end offset is where the next record starts.
	var off int64
	for i, r := range recs {
		off += int64(len(frame(t, r)))
		if ends[i] != off {
			t.Errorf("record %d ends at %d, want %d", i, ends[i], off)
		}
	}

	// A range: just the second and third records.
	from, to := int64(len(frame(t, recs[0]))), int64(len(frame(t, recs[:3]...)))
	got, _, err = readAll(t, path, from, to)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "Read(from, to)", got, recs[1:3])
	// An empty range.
	if got, _, err := readAll(t, path, to, to); err != nil || len(got) != 0 {
		t.Errorf("Read(to, to) = %d records, %v", len(got), err)
	}

	// A chunk record's last seq counts its lines.
	writeFile(t, path, frame(t, recs[:2]...))
	if _, last, _ := scanLog(path); last != 4 {
		t.Errorf("last seq of a log ending in a 3-line chunk from seq 2 is %d, want 4", last)
	}
	// A record without Count stands for one.
	writeFile(t, path, frame(t, &sdk.Record{Seq: 9, Message: "m"}))
	if _, last, _ := scanLog(path); last != 9 {
		t.Errorf("last seq = %d, want 9", last)
	}

	// No log at all is an empty log.
	size, last, err = scanLog(filepath.Join(dir, "none.log"))
	if size != 0 || last != 0 || err != nil {
		t.Errorf("scanLog(missing) = %d, %d, %v", size, last, err)
	}
	// Records numbered before (handed to a receiver straight from the
	// relay, never logged) stay numbered.
	if end, err := ScanFrom(filepath.Join(dir, "none.log"), End{LastSeq: 7}); err != nil || end != (End{LastSeq: 7}) {
		t.Errorf("ScanFrom(missing, LastSeq 7) = %+v, %v; want LastSeq 7", end, err)
	}
	// Reading nothing from it is nothing (a job that printed nothing has
	// no log file: Create); reading records from it finds them missing.
	if recs, _, err := readAll(t, filepath.Join(dir, "none.log"), 0, 0); len(recs) != 0 || err != nil {
		t.Errorf("Read(missing, 0, 0) = %d records, %v; want none", len(recs), err)
	}
	if _, _, err := readAll(t, filepath.Join(dir, "none.log"), 0, 10); !errors.Is(err, ErrTruncated) {
		t.Errorf("Read(missing, 0, 10) = %v", err)
	}
}

func TestLogTornTail(t *testing.T) {
	recs := sampleRecords()
	whole := frame(t, recs...)
	next := frame(t, chunkRec(7, "seven\n"))
	tails := map[string][]byte{
		"torn record":                next[:len(next)-2],
		"length prefix only":         next[:1],
		"torn length prefix":         {0x80},
		"torn multi-byte length":     {0xff, 0xff},
		"length without its payload": protowire.AppendVarint(nil, 1000),
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "1.log")
			writeFile(t, path, append(append([]byte{}, whole...), tail...))
			// Read holds the log to what it should contain: a torn tail
			// is a truncated record to it.
			got, _, err := readAll(t, path, 0, -1)
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("Read over a torn tail: %v, want ErrTruncated", err)
			}
			sameRecords(t, "Read up to the torn tail", got, recs)
			size, last, err := scanLog(path)
			if err != nil || size != int64(len(whole)) || last != 6 {
				t.Fatalf("scanLog = %d, %d, %v; want %d, 6, nil", size, last, err, len(whole))
			}

			// createLog cuts the torn tail, and appends go after the whole
			// records.
			l, err := Open(path, size)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(path); fi.Size() != size {
				t.Errorf("after createLog the log has %d bytes, want %d", fi.Size(), size)
			}
			if err := l.Append(next); err != nil {
				t.Fatal(err)
			}
			// Appended as a checked frame: a log an older host began
			// goes on in the new format.
			checked, _ := AppendChecked(nil, next)
			if l.Size() != size+int64(len(checked)) {
				t.Errorf("Size() = %d, want %d", l.Size(), size+int64(len(checked)))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Errorf("second close: %v", err)
			}
			if err := l.Append(next); err == nil {
				t.Error("append to a closed log succeeded")
			}
			got, _, err = readAll(t, path, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, "after append", got, append(sampleRecords(), chunkRec(7, "seven\n")))
		})
	}
}

func TestCreateLogNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.log")
	l, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Size() != 0 {
		t.Errorf("Size = %d", l.Size())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("a record log has mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir.log"), 0); err == nil {
		t.Error("createLog in a missing directory succeeded")
	}
}

func TestReadLogCorrupt(t *testing.T) {
	dir := t.TempDir()
	// A length beyond any record.
	path := filepath.Join(dir, "huge.log")
	writeFile(t, path, append(frame(t, chunkRec(1, "a\n")), protowire.AppendVarint(nil, 1<<40)...))
	if _, _, err := readAll(t, path, 0, -1); err == nil {
		t.Error("readLog accepted a record length of 1 TiB")
	}
	// A whole record whose bytes are not a record.
	path = filepath.Join(dir, "garbage.log")
	writeFile(t, path, append(frame(t, chunkRec(1, "a\n")), 3, 0xff, 0xff, 0xff))
	got, _, err := readAll(t, path, 0, -1)
	if err == nil {
		t.Error("readLog accepted a record that does not parse")
	}
	if len(got) != 1 {
		t.Errorf("readLog passed on %d records before the bad one, want 1", len(got))
	}
	// fn's error ends the read.
	path = filepath.Join(dir, "ok.log")
	writeFile(t, path, frame(t, sampleRecords()...))
	boom := fmt.Errorf("boom")
	n := 0
	err = Read(path, 0, int64(len(frame(t, sampleRecords()...))), func(*sdk.Record, int64) error { n++; return boom })
	if err != boom || n != 1 {
		t.Errorf("readLog = %v after %d calls; want fn's error after 1", err, n)
	}
}

func TestRecordsAfter(t *testing.T) {
	recs := sampleRecords() // seqs 1, 2-4, 5, 6
	batch := frame(t, recs...)
	tests := []struct {
		after uint64
		want  []*sdk.Record
	}{
		{0, recs},
		{1, recs[1:]},
		{4, recs[2:]},
		{5, recs[3:]},
		{6, nil},
		{100, nil},
	}
	for _, tt := range tests {
		out, err := After(batch, tt.after)
		if err != nil {
			t.Fatalf("After(%d): %v", tt.after, err)
		}
		if want := frame(t, tt.want...); !bytes.Equal(out, want) {
			t.Errorf("After(%d) = %d bytes, want the %d records after it (%d bytes)", tt.after, len(out), len(tt.want), len(want))
		}
	}
	// What it returns is a batch of whole records.
	out, _ := After(batch, 1)
	var seqs []uint64
	if err := Each(out, func(r *sdk.Record, _ []byte) error { seqs = append(seqs, r.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[2 5 6]" {
		t.Errorf("seqs after 1: %v", seqs)
	}
	for _, bad := range [][]byte{{0x05, 1}, {0x80}, append(frame(t, recs[0]), 0xff)} {
		if _, err := After(bad, 0); err == nil {
			t.Errorf("recordsAfter accepted the malformed batch %x", bad)
		}
	}
	// Fresh: a batch as a runtime sends it (seqs 1..6), against what the
	// writer holds.
	b := &sdk.Batch{FirstSeq: 1, LastSeq: 6, Records: batch}
	for _, tt := range tests {
		out, err := Fresh(b, tt.after)
		if want := frame(t, tt.want...); err != nil || !bytes.Equal(out, want) {
			t.Errorf("Fresh(1..6, %d) = %d bytes, %v; want %d bytes", tt.after, len(out), err, len(want))
		}
	}
	if out, err := Fresh(&sdk.Batch{}, 0); out != nil || err != nil {
		t.Errorf("Fresh of an empty batch: %x, %v", out, err)
	}
}

func TestEachRecordWhole(t *testing.T) {
	recs := sampleRecords()
	batch := frame(t, recs...)
	i := 0
	err := Each(batch, func(r *sdk.Record, whole []byte) error {
		if !bytes.Equal(whole, frame(t, recs[i])) {
			t.Errorf("record %d: whole is not its framed bytes", i)
		}
		if !proto.Equal(r, recs[i]) {
			t.Errorf("record %d is %v, want %v", i, r, recs[i])
		}
		i++
		return nil
	})
	if err != nil || i != len(recs) {
		t.Errorf("eachRecord: %v after %d records", err, i)
	}
	if err := Each(nil, func(*sdk.Record, []byte) error { t.Error("called for an empty batch"); return nil }); err != nil {
		t.Error(err)
	}
}

// decodeCases are records, by name, that decodeRecord must decode exactly as
// proto.Unmarshal does.
func decodeCases() map[string][]byte {
	m := func(r *sdk.Record) []byte {
		b, err := proto.Marshal(r)
		if err != nil {
			panic(err)
		}
		return b
	}
	var hand []byte
	// Fields out of the usual order, and seq twice (the last one wins).
	hand = protowire.AppendTag(hand, 4, protowire.BytesType)
	hand = protowire.AppendBytes(hand, []byte("x\ny\n"))
	hand = protowire.AppendTag(hand, 1, protowire.VarintType)
	hand = protowire.AppendVarint(hand, 3)
	hand = protowire.AppendTag(hand, 5, protowire.VarintType)
	hand = protowire.AppendVarint(hand, 2)
	hand = protowire.AppendTag(hand, 1, protowire.VarintType)
	hand = protowire.AppendVarint(hand, 7)
	var unknownVarint []byte
	unknownVarint = append(unknownVarint, m(chunkRec(1, "a\n"))...)
	unknownVarint = protowire.AppendTag(unknownVarint, 20, protowire.VarintType)
	unknownVarint = protowire.AppendVarint(unknownVarint, 99)
	var wrongType []byte // seq as a fixed64: not the hand decoder's business
	wrongType = protowire.AppendTag(wrongType, 4, protowire.BytesType)
	wrongType = protowire.AppendBytes(wrongType, []byte("z\n"))
	wrongType = protowire.AppendTag(wrongType, 1, protowire.Fixed64Type)
	wrongType = protowire.AppendFixed64(wrongType, 5)
	var bigCount []byte // Count wider than 32 bits is truncated, as proto does
	bigCount = protowire.AppendTag(bigCount, 5, protowire.VarintType)
	bigCount = protowire.AppendVarint(bigCount, 1<<32+3)
	bigCount = protowire.AppendTag(bigCount, 4, protowire.BytesType)
	bigCount = protowire.AppendBytes(bigCount, []byte("q\n"))
	return map[string][]byte{
		"chunk":              m(chunkRec(1, "hello\n")),
		"chunk of lines":     m(chunkRec(12345678901, "a\nb\nc\n")),
		"chunk without nl":   m(chunkRec(2, "partial")),
		"stderr chunk":       m(&sdk.Record{Seq: 3, TimeUnixNano: 42, Stream: sdk.Error, Chunk: []byte("e\n"), Count: 1}),
		"negative time":      m(&sdk.Record{Seq: 4, TimeUnixNano: -1, Stream: sdk.Output, Chunk: []byte("n\n"), Count: 1}),
		"max values":         m(&sdk.Record{Seq: math.MaxUint64, TimeUnixNano: math.MaxInt64, Stream: sdk.Information, Chunk: []byte("m\n"), Count: math.MaxUint32}),
		"seq only":           m(&sdk.Record{Seq: 8}),
		"empty":              {},
		"hand-made order":    hand,
		"unknown varint":     unknownVarint,
		"wrong wire type":    wrongType,
		"count beyond 32bit": bigCount,
		"message":            m(&sdk.Record{Seq: 9, Stream: sdk.Warning, Message: "careful"}),
		"typed output":       m(&sdk.Record{Seq: 10, Stream: sdk.Output, Message: "42", TypeName: "System.Int32"}),
		"error detail":       m(&sdk.Record{Seq: 11, Stream: sdk.Error, Message: "bad", Error: &sdk.ErrorDetail{Category: "c", Target: "t", ErrorId: "e", RecommendedAction: "r"}}),
		"progress":           m(&sdk.Record{Seq: 12, Stream: sdk.Progress, Progress: &sdk.ProgressDetail{ActivityId: 1, ParentId: -1, Activity: "a", Percent: 50, Completed: true}}),
		"information":        m(&sdk.Record{Seq: 13, Stream: sdk.Information, Message: "i", Information: &sdk.InformationDetail{Tags: []string{"x", "y"}, Source: "s", Pid: 7}}),
		"chunk and message":  m(&sdk.Record{Seq: 14, Chunk: []byte("c\n"), Count: 1, Message: "also"}),
	}
}

func TestDecodeRecordMatchesUnmarshal(t *testing.T) {
	var r sdk.Record
	// Decode every case into one reused record, after a record with every
	// field, so nothing of an earlier record may show through.
	full := decodeCases()["information"]
	for name, b := range decodeCases() {
		t.Run(name, func(t *testing.T) {
			if err := Decode(full, &r); err != nil {
				t.Fatal(err)
			}
			var want sdk.Record
			werr := proto.Unmarshal(b, &want)
			err := Decode(b, &r)
			if (err == nil) != (werr == nil) {
				t.Fatalf("decodeRecord error %v, proto.Unmarshal error %v", err, werr)
			}
			if err != nil {
				return
			}
			if !proto.Equal(&r, &want) {
				t.Errorf("decodeRecord = %v\nproto.Unmarshal = %v", &r, &want)
			}
		})
	}
}

func TestDecodeRecordAliasesChunk(t *testing.T) {
	b, err := proto.Marshal(chunkRec(1, "alias me\n"))
	if err != nil {
		t.Fatal(err)
	}
	var r sdk.Record
	if err := Decode(b, &r); err != nil {
		t.Fatal(err)
	}
	if !within(r.Chunk, b) {
		t.Error("the chunk of a plain chunk record was copied rather than aliased")
	}
}

func within(sub, b []byte) bool {
	if len(sub) == 0 || len(b) == 0 {
		return false
	}
	s, lo := uintptr(unsafe.Pointer(&sub[0])), uintptr(unsafe.Pointer(&b[0]))
	return s >= lo && s+uintptr(len(sub)) <= lo+uintptr(len(b))
}

func TestDecodeRecordMalformed(t *testing.T) {
	var truncChunk []byte
	truncChunk = protowire.AppendTag(truncChunk, 4, protowire.BytesType)
	truncChunk = protowire.AppendVarint(truncChunk, 10)
	truncChunk = append(truncChunk, "abc"...)
	var truncVarint []byte
	truncVarint = protowire.AppendTag(truncVarint, 1, protowire.VarintType)
	truncVarint = append(truncVarint, 0x80)
	for name, b := range map[string][]byte{
		"bad tag":          {0x80},
		"truncated chunk":  truncChunk,
		"truncated varint": truncVarint,
		"field zero":       {0x00, 0x01},
	} {
		var r sdk.Record
		if err := Decode(b, &r); err == nil {
			t.Errorf("%s: decodeRecord accepted %x", name, b)
		}
		var want sdk.Record
		if proto.Unmarshal(b, &want) == nil {
			t.Logf("%s: proto.Unmarshal accepts %x", name, b)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, b := range decodeCases() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r, want sdk.Record
		err := Decode(b, &r)
		werr := proto.Unmarshal(b, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeRecord error %v, proto.Unmarshal error %v", err, werr)
		}
		if err == nil && !proto.Equal(&r, &want) {
			t.Fatalf("decodeRecord = %v, proto.Unmarshal = %v", &r, &want)
		}
	})
}

// A torn tail is cut; anything else Scan cannot read is reported, so that
// recovery never truncates records away because of a read error or damage.
func TestScanTornTailVersusErrors(t *testing.T) {
	whole := frame(t, sampleRecords()...)
	more := frame(t, chunkRec(7, "seven\n"))
	eio := errors.New("input/output error")
	tests := []struct {
		name    string
		r       io.Reader
		size    int64
		want    error // nil: a clean scan of whole
		wantEnd int64
	}{
		{"clean", bytes.NewReader(whole), int64(len(whole)), nil, int64(len(whole))},
		{"read error mid-log", io.MultiReader(bytes.NewReader(whole[:40]), iotest.ErrReader(eio)), int64(len(whole)), eio, int64(len(frame(t, sampleRecords()[0])))},
		{"read error after whole records", io.MultiReader(bytes.NewReader(whole), iotest.ErrReader(eio)), int64(len(whole) + len(more)), eio, int64(len(whole))},
		{"garbage between records", bytes.NewReader(append(append(append([]byte{}, whole...), 3, 0xff, 0xff, 0xff), more...)), int64(len(whole) + 4 + len(more)), ErrCorrupt, int64(len(whole))},
		{"garbage as the last frame", bytes.NewReader(append(append([]byte{}, whole...), 3, 0xff, 0xff, 0xff)), int64(len(whole) + 4), nil, int64(len(whole))},
		{"a length no record has", bytes.NewReader(append(append([]byte{}, whole...), protowire.AppendVarint(nil, 1<<40)...)), int64(len(whole) + 6), ErrCorrupt, int64(len(whole))},
		{"overflowing length mid-log", bytes.NewReader(append(append(append([]byte{}, whole...), bytes.Repeat([]byte{0xff}, 11)...), more...)), int64(len(whole) + 11 + len(more)), ErrCorrupt, int64(len(whole))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, err := scan(tt.r, tt.size, "test.log")
			if tt.want == nil && err != nil {
				t.Fatalf("scan: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("scan: %v, want %v", err, tt.want)
			}
			if end.Size != tt.wantEnd {
				t.Errorf("whole records end at %d, want %d", end.Size, tt.wantEnd)
			}
		})
	}
}

// ScanFrom reads on from a checkpoint, and says so when the log is shorter
// than the checkpoint.
func TestScanFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "1.log")
	recs := sampleRecords()
	first := frame(t, recs[:2]...)
	writeFile(t, path, frame(t, recs...))
	end, err := ScanFrom(path, End{Size: int64(len(first)), LastSeq: 4})
	if err != nil || end.Size != int64(len(frame(t, recs...))) || end.LastSeq != 6 {
		t.Errorf("ScanFrom the second record's end = %+v, %v", end, err)
	}
	// Nothing after the checkpoint: it stands.
	whole := End{Size: int64(len(frame(t, recs...))), LastSeq: 6}
	if end, err := ScanFrom(path, whole); err != nil || end != whole {
		t.Errorf("ScanFrom the end = %+v, %v", end, err)
	}
	if _, err := ScanFrom(path, End{Size: 1 << 20, LastSeq: 99}); !errors.Is(err, ErrTruncated) {
		t.Errorf("ScanFrom beyond the end: %v, want ErrTruncated", err)
	}
}

// A log's bytes copied into another log (the Slurm location copies a task's
// log into its job's) go through Plain: checked frames, and frames as an
// older host wrote them, come back as the batch they were written from.
func TestPlainFromLogBytes(t *testing.T) {
	recs := sampleRecords()
	batch := frame(t, recs...)
	checked, err := AppendChecked(nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"checked":                 checked,
		"unchecked":               batch,
		"unchecked, then checked": append(append([]byte{}, batch...), checked...),
	} {
		got, err := Plain(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := batch
		if name == "unchecked, then checked" {
			want = append(append([]byte{}, batch...), batch...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Plain gave %d bytes, want the %d-byte batch", name, len(got), len(want))
		}
	}
	// What Plain gives a writer is stored and read back whole.
	path := filepath.Join(t.TempDir(), "copy.log")
	w, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := Plain(checked)
	if err := w.Append(plain); err != nil {
		t.Fatalf("Append(Plain(log bytes)): %v", err)
	}
	w.Close()
	got, _, err := readAll(t, path, 0, int64(len(checked)))
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "copied log", got, recs)

	damaged := append([]byte{}, checked...)
	damaged[len(damaged)-1] ^= 0xff
	for name, in := range map[string][]byte{
		"damaged record":      damaged,
		"cut inside a frame":  checked[:len(checked)-1],
		"cut in the checksum": checked[:3],
	} {
		if _, err := Plain(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Plain = %v, want ErrCorrupt", name, err)
		}
	}
}

// TestAppendWritesCheckedFrames appends batches of records below, at and
// above the size from which a record is written from where it is, and
// batches of more records than one writev takes: the log holds exactly the
// checked frames AppendChecked makes, batch after batch, also once the
// writer starts writeback behind itself, and the writer keeps no reference
// to a batch once Append returns.
func TestAppendWritesCheckedFrames(t *testing.T) {
	var seq uint64
	batch := func(sizes ...int) []byte {
		var recs []*sdk.Record
		for _, n := range sizes {
			seq++
			recs = append(recs, chunkRec(seq, string(bytes.Repeat([]byte{byte('a' + seq%26)}, n))))
		}
		return frame(t, recs...)
	}
	many := make([]int, 3000)
	for i := range many {
		many[i] = []int{1, smallRecord + 1, 40}[i%3]
	}
	tests := []struct {
		name  string
		sizes []int
	}{
		{"one small", []int{10}},
		{"around the cut", []int{smallRecord - 20, smallRecord - 10, smallRecord, smallRecord + 1}},
		{"large", []int{64 << 10, 5, 64 << 10, 64<<10 - 1}},
		{"more vectors than one writev", many},
	}
	path := filepath.Join(t.TempDir(), "log")
	w, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, tt := range tests {
		b := batch(tt.sizes...)
		checked, err := AppendChecked(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, checked...)
		if err := w.Append(b); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, v := range w.iov[:cap(w.iov)] {
			if v != nil {
				t.Fatalf("%s: the writer still refers to the batch", tt.name)
			}
		}
		clear(b) // the runtime's buffer is reused once the batch is persisted
		if w.Size() != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", tt.name, w.Size(), len(want))
		}
	}
	// Past writebackStep, the writer starts writeback behind itself; the
	// log's bytes are the same.
	for range 2 * writebackStep / (1 << 20) {
		sizes := make([]int, 16)
		for i := range sizes {
			sizes[i] = 64<<10 - 30
		}
		b := batch(sizes...)
		checked, _ := AppendChecked(nil, b)
		want = append(want, checked...)
		if err := w.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if w.behind == nil {
		t.Errorf("no writeback after %d bytes", w.Size())
	}
	if err := w.Append([]byte{5, 1}); err == nil {
		t.Error("a malformed batch was appended")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("log has %d bytes, want %d; they differ", len(got), len(want))
	}
}

// A log Create made has no file until its first records: closed (or
// synced) without any, it never has one. Its first records make it, and a
// file left at its path by an earlier attempt is gone from the start.
func TestCreateMakesTheFileOnFirstRecords(t *testing.T) {
	dir := t.TempDir()
	silent := filepath.Join(dir, "silent.log")
	writeFile(t, silent, frame(t, &sdk.Record{Seq: 1, Message: "an earlier attempt's"}))
	w, err := Create(silent)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Errorf("Sync before any record: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Lstat(silent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a log with no records has a file (%v), or kept the earlier attempt's", err)
	}
	if err := w.Append(frame(t, &sdk.Record{Seq: 1, Message: "late"})); err == nil {
		t.Error("Append after Close was taken")
	}

	loud := filepath.Join(dir, "loud.log")
	w, err = Create(loud)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(loud); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create made the file before any record: %v", err)
	}
	if err := w.Append(frame(t, &sdk.Record{Seq: 1, Message: "hi"})); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, _, err := readAll(t, loud, 0, -1)
	if err != nil || len(recs) != 1 || recs[0].Message != "hi" {
		t.Errorf("read %v, %v; want the one record", recs, err)
	}

	// A link planted where the file is to be made is not written through.
	target := filepath.Join(dir, "target")
	writeFile(t, target, nil)
	planted := filepath.Join(dir, "planted.log")
	w, err = Create(planted)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, planted); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(frame(t, &sdk.Record{Seq: 1, Message: "x"})); err == nil {
		t.Error("the first records went through a link planted at the log's path")
	}
	if fi, _ := os.Stat(target); fi.Size() != 0 {
		t.Errorf("the link's target was written: %d bytes", fi.Size())
	}
}

// Keep takes the whole of a log that has no file yet, within its limit, as
// the bytes a file would hold: ReadKept reads the same records at the same
// offsets as Read of the file. It takes nothing from a log that has a file,
// nor more than the limit, and the log takes nothing after it.
func TestKeep(t *testing.T) {
	dir := t.TempDir()
	batch := frame(t, sampleRecords()...)

	file := filepath.Join(dir, "file.log")
	w, err := Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(batch); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := w.Keep(frame(t, chunkRec(7, "seven\n")), 1<<20); ok || err != nil {
		t.Errorf("Keep on a log with a file: %v, %v; want nothing done", ok, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want, wantEnds, err := readAll(t, file, 0, -1)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(dir, "kept.log")
	w, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := w.Keep(batch, len(batch)); ok {
		t.Errorf("Keep took the records' checked frames with a limit of %d, their bare size", len(batch))
	}
	kept, ok, err := w.Keep(batch, 1<<10)
	if !ok || err != nil {
		t.Fatalf("Keep: %v, %v", ok, err)
	}
	if fi, _ := os.Stat(file); int64(len(kept)) != fi.Size() {
		t.Errorf("kept %d bytes; the file of the same records has %d", len(kept), fi.Size())
	}
	if err := w.Append(frame(t, chunkRec(7, "seven\n"))); err == nil {
		t.Error("Append after Keep was taken")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a kept log has a file: %v", err)
	}
	for from := 0; from < len(wantEnds); from++ {
		start := int64(0)
		if from > 0 {
			start = wantEnds[from-1]
		}
		var got []*sdk.Record
		var ends []int64
		err := ReadKept(kept, start, int64(len(kept)), func(r *sdk.Record, end int64) error {
			got = append(got, proto.Clone(r).(*sdk.Record))
			ends = append(ends, end)
			return nil
		})
		if err != nil {
			t.Fatalf("ReadKept from %d: %v", start, err)
		}
		sameRecords(t, fmt.Sprintf("kept, from %d", start), got, want[from:])
		if fmt.Sprint(ends) != fmt.Sprint(wantEnds[from:]) {
			t.Errorf("kept, from %d: ends %v, want %v", start, ends, wantEnds[from:])
		}
	}
	if err := ReadKept(kept, 0, int64(len(kept))+1, func(*sdk.Record, int64) error { return nil }); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadKept past the end: %v, want ErrTruncated", err)
	}
}

// Fresh checks a batch's framing before anything is stored: a record over
// MaxRecord (a log holding it could never be read back), an empty record
// and a length running past the batch are the runtime's fault.
func TestFreshChecksFraming(t *testing.T) {
	good := frame(t, &sdk.Record{Seq: 1, Stream: sdk.Output, Chunk: []byte("a\n"), Count: 1})
	huge := protowire.AppendVarint(nil, MaxRecord+1)
	huge = append(huge, make([]byte, MaxRecord+1)...)
	for _, tc := range []struct {
		name    string
		records []byte
		want    string
	}{
		{"whole", good, ""},
		{"over MaxRecord", append(append([]byte{}, good...), huge...), "at most 67108864 (64 MiB)"},
		{"empty record", append(append([]byte{}, good...), 0), "an empty record"},
		{"cut short", good[:len(good)-1], "runs past"},
	} {
		out, err := Fresh(&sdk.Batch{Records: tc.records, FirstSeq: 1, LastSeq: 2}, 0)
		switch {
		case tc.want == "" && (err != nil || !bytes.Equal(out, tc.records)):
			t.Errorf("%s: %d bytes, %v; want the batch", tc.name, len(out), err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v; want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// A power loss can leave a log's tail as zeros (its size made durable, its
// last blocks not): Scan cuts them as a torn tail, whether they follow the
// last whole record or fill the last frame's later bytes. Zeros passed for
// records of sequence 0 (an empty record's checksum is zero), hundreds of
// them read back as the job's output. Zeros with a record after them are
// damage.
func TestZerosAreATornTailNotRecords(t *testing.T) {
	good := frame(t, sampleRecords()...)
	last := frame(t, chunkRec(7, "seven, cut by the power loss\n"))
	for _, tc := range []struct {
		name    string
		log     []byte
		corrupt bool
	}{
		{"zeros after the records", append(slices.Clone(good), make([]byte, 4096)...), false},
		{"a few zeros", append(slices.Clone(good), make([]byte, 6)...), false},
		{"the last frame's bytes zeroed", append(append(slices.Clone(good), last[:3]...), make([]byte, len(last)+100)...), false},
		{"zeros, then a record", append(append(slices.Clone(good), make([]byte, 60)...), last...), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "1.log")
			writeFile(t, path, tc.log)
			size, seq, err := scanLog(path)
			if tc.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("Scan: size %d, seq %d, %v; want the damage reported", size, seq, err)
				}
				return
			}
			if err != nil || size != int64(len(good)) || seq != 6 {
				t.Errorf("Scan: size %d, seq %d, %v; want the %d bytes of records 1-6, the zeros cut", size, seq, err, len(good))
			}
		})
	}
}
