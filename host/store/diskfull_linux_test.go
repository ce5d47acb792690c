package store

import (
	"bytes"
	"fmt"
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

// A journal past its compaction size on a disk with no room for the
// compacted copy: the writes succeed all the same (each Put failed, and
// every job's start with it), and the journal compacts once there is room.
func TestJournalCompactionOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a small tmpfs: needs root")
	}
	dir := t.TempDir()
	// Room for the journal's growth, but no inode for a second file.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=32m,nr_inodes=3"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	path := filepath.Join(dir, "journal")
	jr, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := jr.Put(kindAttach, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var fillers []string
	for i := 0; ; i++ {
		p := filepath.Join(dir, fmt.Sprintf("filler%d", i))
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			break
		}
		fillers = append(fillers, p)
	}
	v := bytes.Repeat([]byte("y"), 64<<10)
	for id := uint64(1); id <= 2*compactAt/uint64(len(v)); id++ {
		// The same key over and over: all but the last value is dead.
		if err := jr.Put(kindCursor, 7, append(v, byte(id))); err != nil {
			t.Fatalf("Put %d, past the compaction size with no room for the compacted copy: %v", id, err)
		}
	}
	if fi, _ := os.Stat(path); fi.Size() <= compactAt {
		t.Fatalf("the journal is %d bytes: it compacted, with no inode for its copy?", fi.Size())
	}
	for _, p := range fillers {
		os.Remove(p)
	}
	for id := uint64(1); id <= compactAt/4/uint64(len(v))+2; id++ {
		if err := jr.Put(kindCursor, 7, v); err != nil {
			t.Fatal(err)
		}
	}
	if fi, _ := os.Stat(path); fi.Size() > compactAt {
		t.Errorf("the journal is %d bytes once there was room: it never compacted", fi.Size())
	}
	if err := jr.Put(kindAttach, 2, []byte("after")); err != nil {
		t.Fatal(err)
	}
	jr.Close()
	jr, err = OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	for id, want := range map[uint64]string{1: "x", 2: "after"} {
		if b, ok := jr.Get(kindAttach, id); !ok || string(b) != want {
			t.Errorf("job %d's record after the compactions: %q, %v; want %q", id, b, ok, want)
		}
	}
}
