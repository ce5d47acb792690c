package store

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

func TestCreatePutDeleteAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for range 3 {
		r := &Row{Job: api.Job{Name: "x"}, Spec: &Spec{Script: "echo", Input: []byte{0, 1}}}
		if err := s.Create(r, func(id uint64) { r.ID = id; r.Name = "Job" }); err != nil {
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
	if err := s.Create(r, func(id uint64) { r.ID = id }); err != nil || r.ID != 4 {
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
	rows, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, r := range rows {
		got = append(got, r.ID)
	}
	if !reflect.DeepEqual(got, []uint64{1, 2, 4}) {
		t.Errorf("rows %v", got)
	}
	if rows[0].Name != "Job" || string(rows[0].Spec.Input) != "\x00\x01" {
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
