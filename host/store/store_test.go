package store

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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

func TestAttach(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "1")
	type rec struct{ Pid int }
	var got rec
	if err := LoadAttach(dir, &got); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadAttach with none: %v", err)
	}
	if err := SaveAttach(dir, rec{Pid: 42}); err != nil {
		t.Fatal(err)
	}
	if err := LoadAttach(dir, &got); err != nil || got.Pid != 42 {
		t.Errorf("LoadAttach = %+v, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, AttachFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("attach record: %v %v", fi, err)
	}
}

func TestCursors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cursors")
	c, err := OpenCursors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(3, Cursor{LogSize: 100, LastSeq: 7, ReadOffset: 40}); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(3, Cursor{LogSize: 200, LastSeq: 9, ReadOffset: 40}); err != nil {
		t.Fatal(err)
	}
	c.Set(4, Cursor{LogSize: 1})
	c.Set(5, Cursor{LogSize: 2})
	c.Drop(5)
	// A torn cursor and a stray file are left out.
	os.WriteFile(filepath.Join(dir, "6"), []byte("short"), 0o600)
	os.WriteFile(filepath.Join(dir, "notanid"), make([]byte, cursorSize), 0o600)
	bad := make([]byte, cursorSize)
	bad[0] = 1
	os.WriteFile(filepath.Join(dir, "7"), bad, 0o600)
	c.Close()
	got, err := allCursors(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]Cursor{3: {LogSize: 200, LastSeq: 9, ReadOffset: 40}, 4: {LogSize: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("All = %+v, want %+v", got, want)
	}
}

func allCursors(t *testing.T, dir string) (map[uint64]Cursor, error) {
	c, err := OpenCursors(dir)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.All()
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
