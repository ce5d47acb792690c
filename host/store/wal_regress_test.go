package store

// Regressions found in review of the log: each failed before its fix.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// The overlay's size does not drift up when a key is written again before
// a checkpoint (past 16 MiB every write would checkpoint).
func TestWALOverlaySize(t *testing.T) {
	s, _ := openHeld(t)
	r := &Row{Job: api.Job{ID: 1, Name: "x", State: api.Running}}
	for i := 0; i < 1000; i++ {
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	if len(s.overlay) != 0 || s.overlayBytes != 0 {
		t.Errorf("after a checkpoint: %d rows in the overlay, overlayBytes %d; want 0 and 0", len(s.overlay), s.overlayBytes)
	}
}

// After a damaged log, nothing of what lay beyond the damage is read as new
// when records written over the log's start line up with it.
func TestWALDamageLeavesNothingBehind(t *testing.T) {
	s, path := openHeld(t)
	put := func(s *Store, name string) {
		r := &Row{Job: api.Job{ID: 1, Name: name, State: api.Running}}
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	put(s, "aaaa")
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	put(s, "bbbb") // first record in the log
	put(s, "cccc")
	put(s, "dddd")
	data, _ := os.ReadFile(walPath(path))

	dmg := crashCopy(t, path)
	bad := append([]byte(nil), data...)
	bad[20] ^= 0xff // damage the first record
	os.WriteFile(walPath(dmg), bad, 0o600)
	c, err := Open(dmg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Notice(), "damaged") {
		t.Fatalf("the damage was not found: notice %q", c.Notice())
	}
	put(c, "eeee") // same length: written over the damaged record
	again := crashCopy(t, dmg)
	c.Close()
	d, err := Open(again)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := names(t, d)
	if len(got) != 1 || got[0] != "1:eeee" {
		t.Errorf("stale records after the damage were taken as new: %v, want [1:eeee]", got)
	}
}

// A checkpoint armed at open never writes into the table compact replaces
// (the writes the log held would be lost with it).
func TestWALCheckpointAfterCompaction(t *testing.T) {
	delay := 5 * time.Millisecond
	old := checkpointDelay
	checkpointDelay = time.Hour
	defer func() { checkpointDelay = old }()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 64<<10)
	var ids []uint64
	for i := 0; i < 400; i++ {
		r := &Row{Job: api.Job{Name: "x", State: api.Completed}}
		if err := s.Create(r, func(id uint64) []byte { r.ID = id; return big }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	// New writes, in the log only.
	createRows(t, s, "new1", "new2", "new3")
	crashed := crashCopy(t, path)
	s.Close()
	fi, _ := os.Stat(crashed)

	checkpointDelay = delay
	c, err := Open(crashed)
	if err != nil {
		t.Fatal(err)
	}
	// The open compacted the table: else this test shows nothing.
	if now, _ := os.Stat(crashed); now.Size()*2 > fi.Size() {
		t.Fatalf("the table was not compacted at open (%d bytes, %d before)", now.Size(), fi.Size())
	}
	time.Sleep(300 * time.Millisecond)
	before := fmt.Sprint(names(t, c))
	c.Close()
	checkpointDelay = time.Hour
	d, err := Open(crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	after := fmt.Sprint(names(t, d))
	if before != after || after != "[1:x 401:new1 402:new2 403:new3]" {
		t.Errorf("lost writes: before close %s, after reopen %s", before, after)
	}
}

// Reads (Settings, Trigger, All) beside writes and checkpoints that grow
// the file (bbolt's mmap lock) all go on: the overlay's lock and bbolt's
// are never taken in opposite orders.
func TestWALReadsBesideCheckpoints(t *testing.T) {
	old := checkpointDelay
	checkpointDelay = time.Millisecond
	defer func() { checkpointDelay = old }()
	s, err := Open(filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var progress atomic.Int64
	var wg sync.WaitGroup
	big := make([]byte, 256<<10)
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r := &Row{Job: api.Job{Name: "x", State: api.Completed}}
				if s.Create(r, func(id uint64) []byte { r.ID = id; return big }) != nil {
					return
				}
				progress.Add(1)
			}
		}()
	}
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s.Settings()
				s.Trigger("a/b")
				progress.Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s.All()
				progress.Add(1)
			}
		}()
	}
	last := progress.Load()
	for i := 0; i < 4; i++ {
		time.Sleep(time.Second)
		if p := progress.Load(); p == last {
			t.Fatalf("no progress in 1s: deadlock (progress %d)", p)
		} else {
			last = p
		}
	}
	stop.Store(true)
	wg.Wait()
	s.Close()
}
