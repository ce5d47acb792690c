package durable

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestSyncs(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("kept"); err != nil {
		t.Fatal(err)
	}
	for name, sync := range map[string]func(*os.File) error{"Data": Data, "File": File} {
		if err := sync(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A sync that fails says which call failed on which file, with the
// system's error to test for.
func TestSyncErrorNamesTheFile(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	err = Data(w) // a pipe cannot be synced: EINVAL
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "fdatasync" || pe.Path != w.Name() || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Data on a pipe: %v, want an fdatasync PathError naming %s with EINVAL", err, w.Name())
	}
	f, _ := os.Create(filepath.Join(t.TempDir(), "closed"))
	f.Close()
	if err := File(f); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("File on a closed file: %v, want os.ErrClosed", err)
	}
}

// A slow sync sends the syncs of the next minute to the ordinary system
// call; fast ones leave them raw.
func TestSlowSyncGoesBackToTheOrdinaryCall(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer func(s time.Duration) { slow = s; rawUntil.Store(0) }(slow)

	slow, _ = time.Hour, rawUntil.Swap(0)
	if err := Data(f); err != nil {
		t.Fatal(err)
	}
	if u := rawUntil.Load(); u != 0 {
		t.Fatalf("after a fast sync, syncs are ordinary until %v; want raw", time.Unix(0, u))
	}

	slow = 0 // every sync is slow
	before := time.Now()
	if err := File(f); err != nil {
		t.Fatal(err)
	}
	if u := time.Unix(0, rawUntil.Load()); u.Before(before.Add(ordinaryFor)) {
		t.Fatalf("after a slow sync, syncs are ordinary until %v; want a minute on, past %v", u, before.Add(ordinaryFor))
	}
	// Still fine through the ordinary call.
	if err := Data(f); err != nil {
		t.Fatal(err)
	}
}
