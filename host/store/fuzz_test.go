package store

import (
	"bytes"
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

// The journal and the table's log are what a host reads back after a
// crash, whatever state the disk left them in. Whatever the bytes, reading
// them must not fail or panic, must read the same twice, and must leave a
// file that keeps what is written after it: a record appended after
// damage that the next host could not read back would be an attach record
// lost, and its job run a second time. `make fuzz` runs these beyond their
// seeds.

// FuzzJournal opens a journal made of arbitrary bytes, appends a record,
// and opens it again.
func FuzzJournal(f *testing.F) {
	var whole []byte
	for i := range uint64(4) {
		whole = append(whole, frame(kindAttach, i+1, []byte(`{"pid":1234,"network":"unix"}`))...)
	}
	whole = append(whole, frame(kindCursor, 2, []byte("17"))...)
	whole = append(whole, frame(kindAttach, 3, nil)...)
	damaged := bytes.Clone(whole)
	damaged[len(damaged)/2] ^= 0x40
	f.Add([]byte{})
	f.Add(whole)
	f.Add(whole[:len(whole)-5]) // a torn tail
	f.Add(damaged)
	f.Add(append(bytes.Clone(whole), make([]byte, 40)...))
	f.Add(append(bytes.Repeat([]byte{0xff}, 12), whole...))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "journal")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := OpenJournal(path)
		if err != nil {
			t.Fatalf("opening a journal of %d bytes: %v", len(data), err)
		}
		latest, damage := maps.Clone(j.latest), j.Damaged()
		// What OpenJournal cut as a torn tail holds no whole frame: it
		// would have been a record lost without a word.
		for i := int(j.size); i < len(data); i++ {
			if k, _, _, ok := readFrame(data[i:]); ok {
				t.Fatalf("the torn tail cut at byte %d held a whole frame at byte %d (%v)", j.size, i, k)
			}
		}
		for k, v := range latest {
			if len(v) == 0 {
				t.Errorf("key %v read back with an empty value (a deletion)", k)
			}
		}
		const id = 1<<40 + 7 // not a key the seeds use
		if err := j.Put(kindAttach, id, []byte("appended")); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}

		j, err = OpenJournal(path)
		if err != nil {
			t.Fatalf("reopening: %v", err)
		}
		defer j.Close()
		if v, ok := j.Get(kindAttach, id); !ok || string(v) != "appended" {
			t.Fatalf("the record appended after what was read is read back as %q, %v", v, ok)
		}
		delete(j.latest, journalKey{kindAttach, id})
		if !maps.EqualFunc(latest, j.latest, bytes.Equal) {
			t.Errorf("reading again changed what the journal holds:\nfirst  %v\nsecond %v", latest, j.latest)
		}
		// Where the damage is and how long must not change; what its
		// header claims (Kind, ID) may read only once more bytes follow.
		where := func(d Damage) [2]int64 { return [2]int64{d.Offset, d.Len} }
		if got := j.Damaged(); !slices.EqualFunc(got, damage, func(a, b Damage) bool { return where(a) == where(b) }) {
			t.Errorf("reading again changed the damage found: first %v, second %v", damage, got)
		}
	})
}

// FuzzWAL opens a table beside a log of arbitrary bytes (mutated from a
// real one, so that its records name this table), then checks that the
// table reads, takes a new job, and keeps it across a reopen.
func FuzzWAL(f *testing.F) {
	holdCheckpoints(f)
	dir := f.TempDir()
	path := filepath.Join(dir, "jobs.db")
	s, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	createRows(f, s, "a", "b", "c")
	r := &Row{Job: api.Job{ID: 2, Name: "b", State: api.Running}, Spec: &Spec{Runtime: "/rt"}}
	if err := s.Put(r); err != nil {
		f.Fatal(err)
	}
	if err := s.Delete(1); err != nil {
		f.Fatal(err)
	}
	wal, err := os.ReadFile(walPath(path))
	if err != nil {
		f.Fatal(err)
	}
	// The table as it was before any of those writes: everything it will
	// hold comes from the log.
	s.Close()
	table, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	wal = bytes.TrimRight(wal, "\x00")
	// The log as written reads back as the writes left the table: the
	// fuzzer starts from records this table takes.
	{
		p := filepath.Join(f.TempDir(), "jobs.db")
		os.WriteFile(p, table, 0o600)
		os.WriteFile(walPath(p), wal, 0o600)
		s, err := Open(p)
		if err != nil {
			f.Fatal(err)
		}
		rows, _, err := s.All()
		s.Close()
		if err != nil || len(rows) != 2 || rows[0].Name != "b" || rows[0].State != api.Running || rows[1].Name != "c" {
			f.Fatalf("the log as written reads back as %d rows (%v)", len(rows), err)
		}
	}
	f.Add(wal)
	f.Add(wal[:len(wal)-3])
	f.Add([]byte{})
	bad := bytes.Clone(wal)
	bad[len(bad)/3] ^= 0x10
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "jobs.db")
		if err := os.WriteFile(p, table, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(walPath(p), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		if err != nil {
			t.Fatalf("a table beside a log of %d bytes does not open: %v", len(data), err)
		}
		before, _, err := s.All()
		if err != nil {
			s.Close()
			t.Fatal(err)
		}
		for _, r := range before {
			if r.ID == 0 || r.ID >= s.nextID {
				t.Errorf("row %d read back, the next id being %d: an id could be given twice", r.ID, s.nextID)
			}
		}
		ids := createRows(t, s, "new")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(p)
		if err != nil {
			t.Fatalf("reopening: %v", err)
		}
		defer s.Close()
		after, _, err := s.All()
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before)+1 || after[len(after)-1].ID != ids[0] || after[len(after)-1].Name != "new" {
			t.Errorf("the rows before a new job: %d, after it and a reopen: %d; want the new job, %d, last", len(before), len(after), ids[0])
		}
	})
}

// BenchmarkOpenDamagedJournal opens a journal of the size at which it is
// compacted, made of attach records of which one in ten is damaged, one of
// random bytes, and one made of would-be frames: what a host's start pays
// for a bad disk, and at most for any bytes. Finding
// where whole frames start again is kept from one damaged frame to the
// next, so that this stays linear in the file.
func BenchmarkOpenDamagedJournal(b *testing.B) {
	rec := []byte(`{"network":"unix","address":"/run/bgjob/r/plugin123456","pid":123456,"protocol":2}`)
	var every10, random []byte
	for i := uint64(0); len(every10) < compactAt; i++ {
		f := frame(kindAttach, i, rec)
		if i%10 == 0 {
			f[len(f)/2] ^= 0x40
		}
		every10 = append(every10, f...)
	}
	random = make([]byte, compactAt)
	for i := range random {
		random[i] = byte(i*2654435761>>13) ^ byte(i>>7)
	}
	// Would-be frames every 16 bytes, each claiming close to 1 MiB: a CRC
	// of a megabyte at each, were it not for resync's budget.
	var crafted []byte
	for len(crafted) < compactAt {
		h := binary.AppendUvarint(nil, 1<<20-16)
		h = append(h, kindAttach, 1, 0, 0, 0, 0, 0, 0, 0)
		crafted = append(crafted, h...)
		crafted = append(crafted, make([]byte, 16-len(h))...)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{{"every10th", every10}, {"random", random}, {"crafted", crafted}} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "journal")
			for b.Loop() {
				b.StopTimer()
				if err := os.WriteFile(path, c.data, 0o600); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				j, err := OpenJournal(path)
				if err != nil {
					b.Fatal(err)
				}
				j.Close()
			}
		})
	}
}

// BenchmarkReadWALCrafted reads a 4 MiB log made of nothing but lengths
// that fit: each would have its checksum computed over most of the log,
// were it not for readWAL's bound (35 s without it).
func BenchmarkReadWALCrafted(b *testing.B) {
	data := make([]byte, 4<<20)
	for i := 0; i+8 <= len(data); i += 8 {
		binary.BigEndian.PutUint32(data[i:], uint32(len(data)-i-16))
	}
	for b.Loop() {
		readWAL(data, 1, 0)
	}
}
