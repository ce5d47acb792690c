package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// TestGroupCommit: writes that queue while a commit is under way share the
// next one; each still gets its own id and outcome, and a write that fails
// takes none of the others with it.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// The first commit is held until seven more writes wait behind it;
	// then they must go in one commit: two in all.
	const followers = 7
	var once sync.Once
	release := make(chan struct{})
	s.commit.beforeCommit = func() { once.Do(func() { <-release }) }
	var wg sync.WaitGroup
	ids := make([]uint64, followers+1)
	errs := make([]error, followers+1)
	create := func(i int) {
		defer wg.Done()
		r := &Row{Job: api.Job{Name: "x"}, Spec: &Spec{Runtime: "/rt"}}
		errs[i] = s.Create(r, func(id uint64) []byte { r.ID = id; return nil })
		ids[i] = r.ID
	}
	wg.Add(1)
	go create(0)
	waitQueued(t, s, 0) // the first leads (its write taken off the queue)
	waitLeading(s)
	for i := 1; i <= followers; i++ {
		wg.Add(1)
		go create(i)
	}
	waitQueued(t, s, followers)
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if got := s.Commits(); got != 2 {
		t.Errorf("%d writes took %d commits, want 2 (one, then the seven that waited for it)", followers+1, got)
	}
	slices.Sort(ids)
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}

	// A failing write in a shared commit: the others are committed, the
	// failure goes to its own write.
	s.commit.beforeCommit = nil
	boom := errors.New("boom")
	var hold sync.Once
	release = make(chan struct{})
	s.commit.beforeCommit = func() { hold.Do(func() { <-release }) }
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Put(&Row{Job: api.Job{ID: 100, Name: "first"}}) }()
	waitLeading(s)
	var failErr, okErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		failErr = s.update(func(tx *wtx) error {
			tx.put(bJobs, idKey(200), []byte("{}"))
			return boom
		})
	}()
	go func() { defer wg.Done(); okErr = s.Put(&Row{Job: api.Job{ID: 101, Name: "second"}}) }()
	waitQueued(t, s, 2)
	close(release)
	wg.Wait()
	if !errors.Is(failErr, boom) || okErr != nil {
		t.Fatalf("failing write: %v (want boom), its neighbour: %v (want nil)", failErr, okErr)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, _, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, r := range rows {
		got = append(got, r.ID)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 100, 101}; !slices.Equal(got, want) {
		t.Errorf("after reopening, rows %v, want %v (nothing of the failed write)", got, want)
	}
}

// waitQueued waits until n writes wait in s's committer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.commit.mu.Lock()
		q := len(s.commit.queue)
		s.commit.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLeading waits until a write leads s's committer (it is committing).
func waitLeading(s *Store) { waitLead(s, true) }

// waitIdle waits until no write leads s's committer: every record
// written is synced, or its sync failed.
func waitIdle(s *Store) { waitLead(s, false) }

func waitLead(s *Store, want bool) {
	for {
		s.commit.mu.Lock()
		leading := s.commit.leading
		s.commit.mu.Unlock()
		if leading == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkCreateParallel: submits from 8 goroutines at once, each durable
// when it returns, with group commit (shared) and each committed by itself
// (alone). It reports the commits per submit.
func BenchmarkCreateParallel(b *testing.B) {
	for _, alone := range []bool{false, true} {
		name := "shared"
		if alone {
			name = "alone"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "jobs.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.commit.alone = alone
			b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 submitters here
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := &Row{Job: api.Job{Name: "x"}, Spec: &Spec{Runtime: "/rt"}}
					if err := s.Create(r, func(id uint64) []byte { r.ID = id; return nil }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(s.Commits())/float64(b.N), "commits/op")
		})
	}
}

// holdFirstSync holds the next record's sync: syncing is closed when it
// is reached, and it goes on once release is closed. Later syncs are not
// held.
func holdFirstSync(s *Store) (syncing, release chan struct{}) {
	syncing, release = make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	s.commit.beforeSync = func() error {
		if held.CompareAndSwap(false, true) {
			close(syncing)
			<-release
		}
		return nil
	}
	return syncing, release
}

// TestForegroundWrites: a start --wait job's row, and its removal, are
// readable, and in the log's file, when CreateForeground and
// DeleteForeground return, while their syncs are still under way. The
// next write waits for that sync before its record is written, so no
// record follows one that is not durable yet (which is what tells a torn
// end from damage: readWAL).
func TestForegroundWrites(t *testing.T) {
	for _, c := range []struct {
		name  string
		rows  []string // made before, synced
		write func(s *Store, ids []uint64) error
		after []string // the rows once it returned
	}{
		{"CreateForeground", []string{"a"}, func(s *Store, _ []uint64) error {
			fg := &Row{Job: api.Job{Name: "fg", State: api.NotStarted}}
			return s.CreateForeground(fg, func(id uint64) []byte { fg.ID = id; return []byte("fg payload") })
		}, []string{"1:a", "2:fg"}},
		{"DeleteForeground", []string{"a", "fg"}, func(s *Store, ids []uint64) error {
			return s.DeleteForeground(ids[1])
		}, []string{"1:a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, path := openHeld(t)
			ids := createRows(t, s, c.rows...)
			syncing, release := holdFirstSync(s)
			returned := make(chan error, 1)
			go func() { returned <- c.write(s, ids) }()
			<-syncing
			select {
			case err := <-returned:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				close(release)
				t.Fatalf("%s did not return while its sync was held", c.name)
			}
			if got := names(t, s); !slices.Equal(got, c.after) {
				t.Errorf("rows %v, want %v", got, c.after)
			}
			// The next write queues behind the sync: its record is not
			// written.
			done := make(chan error, 1)
			b := &Row{Job: api.Job{Name: "b"}}
			go func() { done <- s.Create(b, func(id uint64) []byte { b.ID = id; return nil }) }()
			waitQueued(t, s, 1)
			cp, err := Open(crashCopy(t, path))
			if err != nil {
				t.Fatal(err)
			}
			if got := names(t, cp); !slices.Equal(got, c.after) {
				t.Errorf("the log's file, read as a host killed now would: rows %v, want %v", got, c.after)
			}
			cp.Close()
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			waitIdle(s)
			want := append(slices.Clone(c.after), "3:b") // ids 1 and 2 taken before
			if got := names(t, s); !slices.Equal(got, want) {
				t.Errorf("rows %v, want %v", got, want)
			}
			if got, want := s.Commits(), uint64(len(c.rows)+2); got != want {
				t.Errorf("%d records made durable, want %d", got, want)
			}
		})
	}
}

// TestFailedSyncIsNotApplied: a write whose record's sync failed was
// reported failed, so a host killed before the next record is written over
// it must not apply it when it starts again: the record is zeroed, and the
// log goes on from where it was, undamaged.
func TestFailedSyncIsNotApplied(t *testing.T) {
	s, path := openHeld(t)
	createRows(t, s, "a")
	var fail atomic.Bool
	fail.Store(true)
	s.commit.beforeSync = func() error {
		if fail.CompareAndSwap(true, false) {
			return errors.New("an I/O error")
		}
		return nil
	}
	b := &Row{Job: api.Job{Name: "b"}}
	if err := s.Create(b, func(id uint64) []byte { b.ID = id; return nil }); err == nil {
		t.Fatal("a write whose sync failed returned no error")
	}
	for _, c := range []struct {
		what string
		s    *Store
	}{{"the store", s}, {"the log's file, read as a host killed now would", openCopy(t, path)}} {
		if got, want := names(t, c.s), []string{"1:a"}; !slices.Equal(got, want) {
			t.Errorf("%s: rows %v, want %v", c.what, got, want)
		}
	}
	createRows(t, s, "c")
	c := openCopy(t, path)
	if got, want := names(t, c), []string{"1:a", "3:c"}; !slices.Equal(got, want) {
		t.Errorf("after the next write, the log's file: rows %v, want %v (the failed write's id is not given again)", got, want)
	}
	if n := c.Notice(); n != "" {
		t.Errorf("the log's file, opened: %s", n)
	}
}

// openCopy opens a crash copy of the store at path, closed with the test.
func openCopy(t *testing.T, path string) *Store {
	t.Helper()
	c, err := Open(crashCopy(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCreateForegroundSyncFails: a write that shares its record with a
// foreground job's row waits for the sync, and a failed sync fails both,
// as it fails any write; a foreground row alone has been released when its
// sync fails, and the store then takes no more writes (the kernel may
// have dropped what it could not write and report the next sync clean).
// The sync fails for real: the log's file is swapped for a closed one.
func TestCreateForegroundSyncFails(t *testing.T) {
	s, path := openHeld(t)
	createRows(t, s, "a")
	closed, err := os.Open(walPath(path))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	real := s.wal.f
	// failSync makes the sync after the next skip ones fail.
	failSync := func(skip int) {
		s.commit.beforeSync = func() error {
			if skip--; skip == -1 {
				s.wal.f = closed
			}
			return nil
		}
	}
	foreground := func(name string) error {
		r := &Row{Job: api.Job{Name: name}}
		return s.CreateForeground(r, func(id uint64) []byte { r.ID = id; return nil })
	}

	// Shared: a normal write held, then a foreground and a normal one
	// queued behind it, committed together.
	release := make(chan struct{})
	var hold sync.Once
	s.commit.beforeCommit = func() { hold.Do(func() { <-release }) }
	go func() { _ = s.Put(&Row{Job: api.Job{ID: 100, Name: "held"}}) }()
	waitLeading(s)
	errs := make(chan error, 2)
	go func() { errs <- foreground("fg") }()
	go func() { errs <- s.Put(&Row{Job: api.Job{ID: 101, Name: "other"}}) }()
	waitQueued(t, s, 2)
	failSync(1) // the held write's sync, then theirs
	close(release)
	for range 2 {
		if err := <-errs; err == nil {
			t.Error("a write whose record's sync failed returned no error")
		}
	}
	waitIdle(s)
	s.wal.f = real
	if got, want := names(t, s), []string{"1:a", "100:held"}; !slices.Equal(got, want) {
		t.Errorf("after the failed shared sync: rows %v, want %v", got, want)
	}

	// Alone: released before its sync, which fails; later writes fail.
	failSync(0)
	if err := foreground("fg2"); err != nil {
		t.Fatalf("a foreground row alone: %v, want it released before its sync", err)
	}
	waitIdle(s)
	s.wal.f = real
	err = s.Put(&Row{Job: api.Job{ID: 102, Name: "after"}})
	if err == nil || !strings.Contains(err.Error(), "takes no more writes") {
		t.Errorf("a write after a foreground row's failed sync: %v, want it refused", err)
	}
	// Closed as always (the table takes what the overlay has, the log is
	// closed), saying what went wrong.
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "takes no more writes") {
		t.Errorf("Close after a failed sync: %v, want the failure", err)
	}
	s.mu.Lock()
	open := s.wal != nil
	s.mu.Unlock()
	if open {
		t.Error("Close after a failed sync left the log open")
	}
}

// A checkpoint that applies a foreground row while its sync is still under
// way cannot start the log over (the record is being synced); the next one
// does, though it has nothing left to apply: the log does not keep a
// removed job's input.
func TestCreateForegroundCheckpointDuringSync(t *testing.T) {
	s, _ := openHeld(t)
	syncing, release := holdFirstSync(s)
	fg := &Row{Job: api.Job{Name: "fg"}}
	if err := s.CreateForeground(fg, func(id uint64) []byte { fg.ID = id; return []byte("secret input") }); err != nil {
		t.Fatal(err)
	}
	<-syncing
	if err := s.checkpoint(false); err != nil { // the timer's, meanwhile
		t.Fatal(err)
	}
	close(release)
	waitIdle(s)
	if err := s.checkpoint(false); err != nil { // the next
		t.Fatal(err)
	}
	s.mu.Lock()
	off := s.wal.off
	s.mu.Unlock()
	if off != 0 {
		t.Errorf("after a checkpoint with everything applied the log goes on at %d, want 0 (started over)", off)
	}
	if got, want := names(t, s), []string{"1:fg"}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}
