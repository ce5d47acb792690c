package store

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
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
	waitQueued := func(n int) {
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
	waitQueued(0) // the first leads (its write taken off the queue)
	waitLeading(s)
	for i := 1; i <= followers; i++ {
		wg.Add(1)
		go create(i)
	}
	waitQueued(followers)
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
	waitQueued(2)
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

// waitLeading waits until a write leads s's committer (it is committing).
func waitLeading(s *Store) {
	for {
		s.commit.mu.Lock()
		leading := s.commit.leading
		s.commit.mu.Unlock()
		if leading {
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
