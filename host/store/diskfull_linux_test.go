package store

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A record the disk had no room for is cut back: the journal reads whole
// afterwards, without damage that would make recovery doubt a job's start.
func TestJournalWriteOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a small tmpfs: needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	// Everything but the journal's first page taken.
	filler := filepath.Join(dir, "filler")
	os.WriteFile(filler, make([]byte, 12<<10), 0o600)
	path := filepath.Join(dir, "journal")
	jr, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	v := bytes.Repeat([]byte("x"), 300)
	var put uint64
	for id := uint64(1); ; id++ {
		if err := jr.Put(kindAttach, id, v); err != nil {
			break
		}
		put = id
		if id > 100 {
			t.Fatal("the tmpfs never filled up")
		}
	}
	os.Remove(filler)
	if err := jr.Put(kindCursor, 1, []byte("after")); err != nil {
		t.Fatal(err)
	}
	jr.Close()
	jr, err = OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	if d := jr.Damaged(); len(d) != 0 {
		t.Errorf("damage after a write the disk had no room for: %+v", d)
	}
	if got := jr.All(kindAttach); uint64(len(got)) != put {
		t.Errorf("%d records read back, want the %d written", len(got), put)
	}
	if b, ok := jr.Get(kindCursor, 1); !ok || string(b) != "after" {
		t.Errorf("the record written once there was room: %q %v", b, ok)
	}
}
