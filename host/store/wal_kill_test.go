//go:build unix

package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// TestWALSurvivesKill: writes that returned are there after the host's
// process is killed (SIGKILL) before any checkpoint: they come back from
// the log, in the order they were made, and ids go on after them.
func TestWALSurvivesKill(t *testing.T) {
	if path := os.Getenv("BGJOB_STORE_HELPER"); path != "" {
		holdCheckpoints(t)
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ids := createRows(t, s, "a", "b", "c", "d")
		if err := s.Delete(ids[1]); err != nil {
			t.Fatal(err)
		}
		r := &Row{Job: api.Job{ID: ids[2], Name: "c2"}}
		if err := s.PutWithPayload(r, []byte("new payload")); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSettings(Settings{KeepFinished: 7}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTrigger("T/x", Trigger{Since: time.Unix(5, 0).UTC()}); err != nil {
			t.Fatal(err)
		}
		// A foreground job's row, written and not synced: the kill of a
		// process does not lose it.
		fg := &Row{Job: api.Job{Name: "fg", State: api.NotStarted}}
		if err := s.CreateForeground(fg, func(id uint64) []byte { fg.ID = id; return []byte("fg payload") }); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	path := filepath.Join(t.TempDir(), "jobs.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWALSurvivesKill$")
	cmd.Env = append(os.Environ(), "BGJOB_STORE_HELPER="+path)
	out, err := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the helper was not killed: %v\n%s", err, out)
	}
	if n := tableRows(t, path); n != 0 {
		t.Fatalf("the table itself holds %d rows: the test would not show the log at work", n)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Taken back into memory, not written at open (a host must come back
	// on a full disk): the next checkpoint writes them.
	if s.applied == s.seq {
		t.Errorf("at open the log's writes went to the table (it is at %d of %d)", s.applied, s.seq)
	}
	if got, want := names(t, s), []string{"1:a", "3:c2", "4:d", "5:fg"}; !slices.Equal(got, want) {
		t.Errorf("after the kill: rows %v, want %v", got, want)
	}
	if p, _ := s.Payload(3); string(p) != "new payload" {
		t.Errorf("payload of 3: %q", p)
	}
	if p, _ := s.Payload(2); p != nil {
		t.Errorf("the removed job's payload is back: %q", p)
	}
	if set, _ := s.Settings(); set.KeepFinished != 7 {
		t.Errorf("settings %+v", set)
	}
	if tr, ok, _ := s.Trigger("T/x"); !ok || !tr.Since.Equal(time.Unix(5, 0)) {
		t.Errorf("trigger %+v %v", tr, ok)
	}
	if p, _ := s.Payload(5); string(p) != "fg payload" {
		t.Errorf("payload of the foreground job: %q", p)
	}
	if ids := createRows(t, s, "e"); ids[0] != 6 {
		t.Errorf("the next id is %d, want 6 (ids are never reused)", ids[0])
	}
}
