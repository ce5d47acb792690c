package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	bolt "go.etcd.io/bbolt"
)

// holdCheckpoints keeps the overlay out of the table for the test, so that
// what is read back after a crash can only have come from the log.
func holdCheckpoints(t testing.TB) {
	old := checkpointDelay
	checkpointDelay = time.Hour
	t.Cleanup(func() { checkpointDelay = old })
}

func createRows(t testing.TB, s *Store, names ...string) []uint64 {
	var ids []uint64
	for _, n := range names {
		r := &Row{Job: api.Job{Name: n, State: api.NotStarted}, Spec: &Spec{Runtime: "/rt"}}
		if err := s.Create(r, func(id uint64) []byte { r.ID = id; return []byte("payload of " + n) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

func names(t *testing.T, s *Store) []string {
	t.Helper()
	rows, bad, err := s.All()
	if err != nil || len(bad) > 0 {
		t.Fatalf("All: %v, bad %v", err, bad)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d:%s", r.ID, r.Name))
	}
	return out
}

// tableRows counts the rows bbolt itself holds at path, log aside.
func tableRows(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	_ = db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketJobs).Stats().KeyN; return nil })
	return n
}

// openHeld opens a new table with checkpoints held off (holdCheckpoints),
// closed when the test ends, and returns it and its path.
func openHeld(t *testing.T) (*Store, string) {
	t.Helper()
	holdCheckpoints(t)
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// crashCopy copies the table and its log as a crash would leave them (no
// write is under way), to a new directory, and returns the copy's path.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "jobs.db")
	for _, p := range []string{path, walPath(path)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(strings.Replace(p, path, dst, 1), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestWALStartsOver: once the table has all the log holds, the log is
// written over from its start; its old records are never taken for new
// ones (a removed job does not come back), and a crash after more writes
// finds them.
func TestWALStartsOver(t *testing.T) {
	s, path := openHeld(t)
	createRows(t, s, "a", "b", "c")
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	if s.wal.off != 0 {
		t.Fatalf("after a checkpoint the log goes on at %d, want 0", s.wal.off)
	}
	if err := s.Delete(2); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(3); err != nil {
		t.Fatal(err)
	}
	createRows(t, s, "d")
	c, err := Open(crashCopy(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := names(t, c), []string{"1:a", "4:d"}; !slices.Equal(got, want) {
		t.Errorf("after the crash: rows %v, want %v", got, want)
	}
	if c.Notice() != "" {
		t.Errorf("a notice for a sound log: %s", c.Notice())
	}
}

// TestWALTornAndDamaged: a record torn by a crash mid-append (never
// acknowledged) is where the log ends, silently; a record that fails its
// check with sound ones after it is damage: what came before it is kept,
// the log is copied aside, queued jobs are failed (one of them may have
// started in what was lost), ids taken beyond the damage are not given
// again, and Notice says so.
func TestWALTornAndDamaged(t *testing.T) {
	s, path := openHeld(t)
	createRows(t, s, "a", "b", "c")
	end := s.wal.off
	data, err := os.ReadFile(walPath(path))
	if err != nil {
		t.Fatal(err)
	}
	first := 8 + int(binary.BigEndian.Uint32(data[0:4]))

	torn := crashCopy(t, path)
	if err := os.WriteFile(walPath(torn), append(data[:end-3:end-3], make([]byte, 64)...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(torn)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, c), []string{"1:a", "2:b"}; !slices.Equal(got, want) || c.Notice() != "" {
		t.Errorf("torn tail: rows %v (want %v), notice %q (want none)", got, want, c.Notice())
	}
	c.Close()

	damaged := crashCopy(t, path)
	bad := bytes.Clone(data)
	bad[first+20] ^= 0xff // inside the second record
	if err := os.WriteFile(walPath(damaged), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Open(damaged)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := names(t, c), []string{"1:a"}; !slices.Equal(got, want) {
		t.Errorf("damaged: rows %v, want %v", got, want)
	}
	// The queued job may have started in what was lost: it is failed,
	// saying why, never run a second time.
	if rows, _, _ := c.All(); len(rows) != 1 || rows[0].State != api.Failed || !strings.Contains(rows[0].StateReason, "damaged at byte") {
		t.Errorf("a queued job after a damaged log: %+v", rows[0].Job)
	}
	if !strings.Contains(c.Notice(), "damaged") {
		t.Errorf("damaged log, notice %q", c.Notice())
	}
	asides, _ := filepath.Glob(walPath(damaged) + ".damaged-*")
	if len(asides) != 1 {
		t.Errorf("copies of the damaged log: %v", asides)
	}
	// Job 3 was lost with the damage, but its id is not given again: it
	// may be running.
	if ids := createRows(t, c, "d"); ids[0] != 4 {
		t.Errorf("the next id after the damage is %d, want 4", ids[0])
	}
}

// TestWALOtherTable: a log left beside a table that is not its own (the
// table was set aside as damaged, or removed by hand) is not applied to it.
func TestWALOtherTable(t *testing.T) {
	holdCheckpoints(t)
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	createRows(t, s, "a", "b")
	crashed := crashCopy(t, path)
	s.Close()
	if err := os.Remove(crashed); err != nil {
		t.Fatal(err)
	}
	c, err := Open(crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := names(t, c); len(got) != 0 {
		t.Errorf("a fresh table took rows from another table's log: %v", got)
	}
}
