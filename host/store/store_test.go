package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	bolt "go.etcd.io/bbolt"
)

func TestCreatePutDeleteAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for range 3 {
		r := &Row{Job: api.Job{Name: "x"}, Spec: &Spec{Runtime: "/rt", LegacyInput: []byte{0, 1}}}
		if err := s.Create(r, func(id uint64) []byte { r.ID = id; r.Name = "Job"; return nil }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if !reflect.DeepEqual(ids, []uint64{1, 2, 3}) {
		t.Errorf("ids %v", ids)
	}
	if err := s.Delete(3); err != nil {
		t.Fatal(err)
	}
	r := &Row{Job: api.Job{Name: "y"}}
	if err := s.Create(r, func(id uint64) []byte { r.ID = id; return nil }); err != nil || r.ID != 4 {
		t.Errorf("after deleting the newest, the next id is %d (%v); ids are never reused", r.ID, err)
	}
	r.LastSeq, r.ReadOffset = 7, 9
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	// A second opener is kept out while the first holds the table.
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, bad, err := s.All()
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	var got []uint64
	for _, r := range rows {
		got = append(got, r.ID)
	}
	if !reflect.DeepEqual(got, []uint64{1, 2, 4}) {
		t.Errorf("rows %v", got)
	}
	if rows[0].Name != "Job" || string(rows[0].Spec.LegacyInput) != "\x00\x01" {
		t.Errorf("row 1 = %+v", rows[0])
	}
	if rows[2].LastSeq != 7 || rows[2].ReadOffset != 9 {
		t.Errorf("row 4 = %+v", rows[2])
	}
}

// Attach records live in the journal and survive it being reopened (as a
// killed host's successor reopens it); one left in a job's socket
// directory (where hosts before the journal kept them, and where the job's
// user may write) is never read; dropping one forgets it.
func TestAttach(t *testing.T) {
	dir := t.TempDir()
	jr, err := OpenJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ Pid int }
	var got rec
	if err := jr.LoadAttach(1, &got); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadAttach with none: %v", err)
	}
	if err := jr.SaveAttach(1, rec{Pid: 42}); err != nil {
		t.Fatal(err)
	}
	jr.SaveAttach(2, rec{Pid: 43})
	jr.DropAttach(2)
	jr.Close()
	jr, err = OpenJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	if err := jr.LoadAttach(1, &got); err != nil || got.Pid != 42 {
		t.Errorf("LoadAttach after reopening = %+v, %v", got, err)
	}
	if err := jr.LoadAttach(2, &got); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dropped record: %v", err)
	}
	if ids := jr.Attached(); len(ids) != 1 || ids[0] != 1 {
		t.Errorf("Attached = %v", ids)
	}
	// A record beside the job's sockets, as hosts before the journal
	// kept them, is not the host's to trust.
	os.MkdirAll(filepath.Join(dir, "run", "3"), 0o700)
	os.WriteFile(filepath.Join(dir, "run", "3", "attach.json"), []byte(`{"Pid":44}`), 0o600)
	if err := jr.LoadAttach(3, &got); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a record in the socket directory was read: %+v, %v", got, err)
	}
}

// The journal keeps the latest value per key, drops a torn tail (a power
// loss mid-append), appends after it, and compacts to its live values.
func TestJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	jr, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	jr.Put('x', 1, []byte("one"))
	jr.Put('x', 1, []byte("uno"))
	jr.Put('x', 2, []byte("two"))
	jr.Put('y', 1, []byte("other kind"))
	jr.Put('x', 2, nil)
	jr.Close()
	// A torn append: half a record at the end.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(frame('x', 3, []byte("torn"))[:7])
	f.Close()
	jr, err = OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := jr.All('x'); len(got) != 1 || string(got[1]) != "uno" {
		t.Errorf("All(x) = %v", got)
	}
	if v, ok := jr.Get('y', 1); !ok || string(v) != "other kind" {
		t.Errorf("Get(y, 1) = %q %v", v, ok)
	}
	jr.Put('x', 4, []byte("after the tear"))
	before, _ := os.Stat(path)
	if err := jr.Compact(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if after.Size() >= before.Size() {
		t.Errorf("compaction did not shrink the journal: %d to %d bytes", before.Size(), after.Size())
	}
	jr.Close()
	jr, _ = OpenJournal(path)
	defer jr.Close()
	if got := jr.All('x'); len(got) != 2 || string(got[1]) != "uno" || string(got[4]) != "after the tear" {
		t.Errorf("after compaction and reopening: %v", got)
	}
}

// A batch's mark (PutStartedTo) reads back, before and after a reopen
// (from the log's overlay, then from the table), never moves back, goes
// with the batch's row, and is not written back for a batch whose row is
// gone (a move that comes after its removal); DropStartedTo drops marks.
func TestStartedTo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var batches []uint64
	for range 3 {
		r := &Row{Job: api.Job{Name: "batch"}}
		if err := s.Create(r, func(id uint64) []byte { r.ID = id; return nil }); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, r.ID)
	}
	a, b, c := batches[0], batches[1], batches[2]
	for _, m := range []struct{ batch, to uint64 }{{a, 14}, {b, 20}, {c, 30}} {
		if err := s.PutStartedTo(m.batch, m.to); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(b); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStartedTo(b, 24); err != nil { // after its removal
		t.Fatal(err)
	}
	if err := s.DropStartedTo(c); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStartedTo(a, 10); err != nil { // behind its mark
		t.Fatal(err)
	}
	check := func(when string) {
		got, err := s.StartedAll()
		if err != nil || len(got) != 1 || got[a] != 14 {
			t.Errorf("%s: the marks are %v (%v), want batch %d's at 14 and no other", when, got, err, a)
		}
	}
	check("before a reopen")
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("after a reopen")
}

// Sync makes all the journal holds durable: Synced, the length a power
// loss would leave, covers every write before it and none after it. A
// compaction's new file was synced whole, but its name is durable only
// after the next Sync, and until then a power loss could bring back the
// file it replaced.
func TestJournalSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	jr, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	sync := func() {
		if err := jr.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	jr.Put('x', 1, []byte("one"))
	if got := jr.Synced(); got != 0 {
		t.Errorf("before any sync, %d bytes are synced", got)
	}
	sync()
	if got, want := jr.Synced(), size(); got != want || want == 0 {
		t.Errorf("after a sync %d of %d bytes are synced", got, want)
	}
	synced := jr.Synced()
	jr.Put('x', 2, []byte("two"))
	if got := jr.Synced(); got != synced || size() <= got {
		t.Errorf("a write after the sync: %d of %d bytes synced, want %d", got, size(), synced)
	}
	sync()
	sync() // nothing new: nothing to do
	if got, want := jr.Synced(), size(); got != want {
		t.Errorf("after the second sync %d of %d bytes are synced", got, want)
	}
	if err := jr.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := jr.Synced(); got != 0 {
		t.Errorf("after a compaction, before a sync, %d bytes count as synced: the new file's name is not durable yet", got)
	}
	sync()
	if got, want := jr.Synced(), size(); got != want || want == 0 {
		t.Errorf("after a compaction and a sync %d of %d bytes are synced", got, want)
	}
}

// A frame damaged in the middle of the journal is damage, not a torn
// tail: it is reported with the key it claims, and the frames after it
// still load; the file is not cut there.
func TestJournalDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	var b []byte
	b = append(b, frame(kindAttach, 1, []byte(`{"pid":11}`))...)
	mid := len(b)
	b = append(b, frame(kindAttach, 2, []byte(`{"pid":22}`))...)
	b = append(b, frame(kindAttach, 3, []byte(`{"pid":33}`))...)
	b[mid+14] ^= 0x40 // inside job 2's value
	os.WriteFile(path, b, 0o600)
	jr, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	got := jr.All(kindAttach)
	if len(got) != 2 || string(got[1]) != `{"pid":11}` || string(got[3]) != `{"pid":33}` {
		t.Errorf("the intact records around the damage: %v", got)
	}
	d := jr.Damaged()
	if len(d) != 1 || d[0].Offset != int64(mid) || !d[0].Attach(2) {
		t.Errorf("Damaged = %+v; want one, at byte %d, claiming job 2's attach record", d, mid)
	}
	jr.Put(kindAttach, 4, []byte(`{"pid":44}`))
	jr.Close()
	if fi, _ := os.Stat(path); fi.Size() <= int64(len(b)) {
		t.Errorf("the journal was cut at the damage: %d bytes of %d", fi.Size(), len(b))
	}

	// The damaged frame last, whole: damage too (a killed host leaves a
	// frame cut short, never one with other bytes); cut short: a torn
	// tail, dropped without a report.
	b = append(frame(kindAttach, 1, []byte(`{"pid":11}`)), frame(kindAttach, 2, []byte(`{"pid":22}`))...)
	b[len(b)-3] ^= 0x40
	os.WriteFile(path, b, 0o600)
	jr, err = OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := jr.Damaged(); len(d) != 1 || !d[0].Attach(2) {
		t.Errorf("a damaged last frame: Damaged = %+v", d)
	}
	jr.Close()
	b = append(frame(kindAttach, 1, []byte(`{"pid":11}`)), frame(kindAttach, 2, []byte(`{"pid":22}`))[:9]...)
	os.WriteFile(path, b, 0o600)
	jr, err = OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	if d := jr.Damaged(); len(d) != 0 {
		t.Errorf("a torn tail was reported as damage: %+v", d)
	}
	if got := jr.All(kindAttach); len(got) != 1 {
		t.Errorf("after a torn tail: %v", got)
	}
}

func TestCursors(t *testing.T) {
	dir := t.TempDir()
	jr, err := OpenJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, "cursors")
	c := OpenCursors(jr, legacy)
	if err := c.Set(3, Cursor{LogSize: 100, LastSeq: 7, ReadOffset: 40}); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(3, Cursor{LogSize: 200, LastSeq: 9, ReadOffset: 40}); err != nil {
		t.Fatal(err)
	}
	c.Set(4, Cursor{LogSize: 1})
	c.Set(5, Cursor{LogSize: 2})
	c.Drop(5)
	// An older host's cursor files: read (the torn one and a stray file
	// left out), then the directory goes.
	os.MkdirAll(legacy, 0o700)
	old := Cursor{LogSize: 11, LastSeq: 2, ReadOffset: 5}
	var b [cursorSize]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(old.LogSize))
	binary.LittleEndian.PutUint64(b[8:], old.LastSeq)
	binary.LittleEndian.PutUint64(b[16:], uint64(old.ReadOffset))
	binary.LittleEndian.PutUint32(b[24:], crc32.ChecksumIEEE(b[:24]))
	os.WriteFile(filepath.Join(legacy, "8"), b[:], 0o600)
	os.WriteFile(filepath.Join(legacy, "6"), []byte("short"), 0o600)
	os.WriteFile(filepath.Join(legacy, "notanid"), make([]byte, cursorSize), 0o600)
	jr.Close()
	jr, err = OpenJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	got, err := OpenCursors(jr, legacy).All()
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]Cursor{3: {LogSize: 200, LastSeq: 9, ReadOffset: 40}, 4: {LogSize: 1}, 8: old}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("All = %+v, want %+v", got, want)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Errorf("the legacy cursor directory is left: %v", err)
	}
}

// A row that does not decode is reported with its id and kept (so it can be
// removed); the others are read.
func TestBadRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		r := &Row{}
		s.Create(r, func(id uint64) []byte { r.ID = id; return nil })
	}
	// The damage is planted in the table itself, once it has the rows.
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketJobs).Put(idKey(2), []byte("{not json")) })
	rows, bad, err := s.All()
	if err != nil || len(rows) != 2 || len(bad) != 1 || bad[0].ID != 2 {
		t.Fatalf("All = %d rows, bad %v, %v", len(rows), bad, err)
	}
	if err := s.Delete(2); err != nil {
		t.Fatal(err)
	}
	if _, bad, _ := s.All(); len(bad) != 0 {
		t.Errorf("a removed bad row is still there: %v", bad)
	}
}

// A table whose file is damaged is ErrCorrupt, from Open or from All, and
// SetAside moves it out of the way for a fresh one.
func TestCorruptTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		r := &Row{Spec: &Spec{Runtime: strings.Repeat("x", 300)}}
		s.Create(r, func(id uint64) []byte { r.ID = id; return nil })
	}
	s.Close()
	b, _ := os.ReadFile(path)
	// Garbage over every page after the two meta pages and the freelist.
	for i := 3 * 4096; i < len(b); i++ {
		b[i] = 0xa5
	}
	os.WriteFile(path, b, 0o600)
	s, err = Open(path)
	if err == nil {
		_, _, err = s.All()
		s.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged table: %v, want ErrCorrupt", err)
	}
	aside, err := SetAside(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(aside); err != nil || !strings.Contains(aside, ".corrupt-") {
		t.Errorf("set aside as %s: %v", aside, err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rows, _, err := s.All(); err != nil || len(rows) != 0 {
		t.Errorf("the fresh table: %d rows, %v", len(rows), err)
	}
}

// A table most of whose rows were removed is rewritten when it is next
// opened: it shrinks, the removed jobs' inputs are no longer in its bytes,
// and the rows left are all there.
func TestCompactsMostlyFreeTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte("removed-input-"), 1500) // 21 KB
	var keep uint64
	for i := 0; i < 300; i++ {
		r := &Row{}
		if err := s.Create(r, func(id uint64) []byte { r.ID = id; return secret }); err != nil {
			t.Fatal(err)
		}
		keep = r.ID
	}
	// The table itself holds them all (the log alone would never have
	// put them there: they are removed before its next checkpoint).
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id < keep; id++ {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	before, _ := os.Stat(path)
	if before.Size() < compactFrom {
		t.Fatalf("the table is only %d bytes; the test needs one past %d", before.Size(), compactFrom)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, _ := os.Stat(path)
	if after.Size()*4 > before.Size() {
		t.Errorf("the table is %d bytes after compaction, %d before", after.Size(), before.Size())
	}
	rows, _, err := s.All()
	if err != nil || len(rows) != 1 || rows[0].ID != keep {
		t.Errorf("after compaction: %d rows, %v", len(rows), err)
	}
	if p, err := s.Payload(keep); err != nil || !bytes.Equal(p, secret) {
		t.Errorf("the kept job's payload after compaction: %d bytes, %v", len(p), err)
	}
	b, _ := os.ReadFile(path)
	if n := bytes.Count(b, []byte("removed-input-removed-input-")); n > 1500 {
		t.Errorf("removed jobs' inputs are still in the table's bytes (%d runs)", n)
	}
	b, _ = os.ReadFile(walPath(path))
	if n := bytes.Count(b, []byte("removed-input-removed-input-")); n > 0 {
		t.Errorf("removed jobs' inputs are still in the table's log (%d runs)", n)
	}
}

// A whole record between two damaged ones is read, before and after more
// records are appended: it may be a job's attach record, and a host that
// lost it would take the job for one never started.
func TestJournalReadsBetweenDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	var b []byte
	b = append(b, frame(kindAttach, 1, []byte(`{"pid":11}`))...)
	d1 := len(b)
	b = append(b, frame(kindAttach, 2, []byte(`{"pid":22}`))...)
	b = append(b, frame(kindAttach, 3, []byte(`{"pid":33}`))...)
	d2 := len(b)
	b = append(b, frame(kindAttach, 4, []byte(`{"pid":44}`))...)
	b[d1+14] ^= 0x40 // inside job 2's value
	b[d2+14] ^= 0x40 // inside job 4's value
	os.WriteFile(path, b, 0o600)
	for round := range 2 {
		jr, err := OpenJournal(path)
		if err != nil {
			t.Fatal(err)
		}
		got := jr.All(kindAttach)
		if string(got[1]) != `{"pid":11}` || string(got[3]) != `{"pid":33}` || got[2] != nil || got[4] != nil {
			t.Errorf("round %d: read 1 %s, 2 %s, 3 %s, 4 %s", round, got[1], got[2], got[3], got[4])
		}
		d := jr.Damaged()
		if len(d) != 2 || !d[0].Attach(2) || !d[1].Attach(4) || d[0].Offset != int64(d1) || d[1].Offset != int64(d2) {
			t.Errorf("round %d: Damaged = %+v; want job 2's record at %d and job 4's at %d", round, d, d1, d2)
		}
		// More records after the damage, as a host that goes on writes.
		jr.Put(kindAttach, 5, []byte(`{"pid":55}`))
		jr.Put(kindAttach, 6, []byte(`{"pid":66}`))
		jr.Close()
	}
}

// A last record whose length was damaged into one no record has is damage,
// reported and kept, not a torn tail cut without a word: a killed host
// leaves a prefix of what it wrote, and no record starts like that.
func TestJournalBadLengthIsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	b := frame(kindAttach, 1, []byte(`{"pid":11}`))
	last := len(b)
	b = append(b, frame(kindAttach, 2, []byte(`{"pid":22}`))...)
	b[last] = 5 // a length shorter than any record
	os.WriteFile(path, b, 0o600)
	jr, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := jr.Damaged(); len(d) != 1 || d[0].Offset != int64(last) || d[0].Len != int64(len(b)-last) || !d[0].Attach(2) {
		t.Errorf("Damaged = %+v; want job 2's record, %d bytes at %d", d, len(b)-last, last)
	}
	jr.Close()
	if fi, _ := os.Stat(path); fi.Size() != int64(len(b)) {
		t.Errorf("the journal was cut to %d bytes of %d", fi.Size(), len(b))
	}
}

// A record whose length was damaged to run past the end of the file, with
// a whole record after it and a torn tail last: the torn tail is cut, the
// damaged record reported, and the whole record read, not cut with the
// tail because its length said so.
func TestJournalWholeRecordBeforeATornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	b := frame(kindAttach, 1, []byte(`{"pid":11}`))
	bad := len(b)
	b = append(b, frame(kindAttach, 2, []byte(`{"pid":22}`))...)
	b[bad] = 0x7f // longer than the rest of the file
	whole := len(b)
	b = append(b, frame(kindAttach, 3, []byte(`{"pid":33}`))...)
	end := len(b)
	b = append(b, frame(kindAttach, 4, []byte(`{"pid":44}`))[:5]...)
	os.WriteFile(path, b, 0o600)
	jr, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	if v, ok := jr.Get(kindAttach, 3); !ok || string(v) != `{"pid":33}` {
		t.Errorf("job 3's record after the damaged one: %q %v", v, ok)
	}
	if d := jr.Damaged(); len(d) != 1 || d[0].Offset != int64(bad) || d[0].Len != int64(whole-bad) || !d[0].Attach(2) {
		t.Errorf("Damaged = %+v; want job 2's record, %d bytes at %d", d, whole-bad, bad)
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(end) {
		t.Errorf("the journal was cut to %d bytes; want %d, the torn tail only", fi.Size(), end)
	}
}

// A power loss can leave the journal's end as zeros (its size made
// durable, its last blocks not): a torn tail, cut without a report, not
// damage, which fails every job whose record it might have held. Zeros
// with a whole frame after them, or a damaged last frame, are damage.
func TestJournalZeroedTailIsTorn(t *testing.T) {
	one := frame(kindAttach, 1, []byte(`{"pid":11}`))
	two := frame(kindAttach, 2, []byte(`{"pid":22}`))
	flipped := slices.Clone(two)
	flipped[len(flipped)-6] ^= 0x40
	for _, tc := range []struct {
		name   string
		b      []byte
		damage bool
	}{
		{"zeros after the last frame", append(slices.Clone(one), make([]byte, 4096)...), false},
		{"the last frame's later bytes zeroed", append(append(slices.Clone(one), two[:5]...), make([]byte, len(two)-5)...), false},
		{"zeros, then a whole frame", append(append(slices.Clone(one), make([]byte, 64)...), two...), true},
		{"a damaged last frame", append(slices.Clone(one), flipped...), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal")
			if err := os.WriteFile(path, tc.b, 0o600); err != nil {
				t.Fatal(err)
			}
			jr, err := OpenJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			defer jr.Close()
			if d := jr.Damaged(); (len(d) > 0) != tc.damage {
				t.Errorf("Damaged = %+v; want damage: %v", d, tc.damage)
			}
			if v, ok := jr.Get(kindAttach, 1); !ok || string(v) != `{"pid":11}` {
				t.Errorf("job 1's record: %q, %v", v, ok)
			}
		})
	}
}

// A table cut short (its meta pages whole, the pages after cut off) is
// damage, set aside by the home: at some lengths bbolt faulted on its map
// as it loaded the freelist, a SIGBUS that ended the host at every start.
func TestTableCutShortIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		r := &Row{Job: api.Job{Name: "x", State: api.Completed}}
		if err := s.Create(r, func(id uint64) []byte { r.ID = id; return make([]byte, 2000) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every cut at a page, each in a file of its own: a table that
	// failed to open may leave its lock held in this process. A cut past
	// the pages in use takes only room (bbolt grows the file again).
	corrupt := 0
	for cut := 4096; cut < len(whole); cut += 4096 {
		p := filepath.Join(t.TempDir(), "jobs.db")
		if err := os.WriteFile(p, whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		switch {
		case err == nil:
			s.Close()
		case errors.Is(err, ErrCorrupt):
			corrupt++
		default:
			t.Errorf("the table cut to %d of its %d bytes: %v; want it opened or ErrCorrupt", cut, len(whole), err)
		}
	}
	if corrupt == 0 {
		t.Error("no cut of the table was found damaged")
	}
}
