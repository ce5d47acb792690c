package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// oneEntry makes a catalog holding a single hand-made entry.
func oneEntry(t *testing.T) (*Catalog, *Entry) {
	t.Helper()
	root := t.TempDir()
	addEntry(t, root, "shell", "2.0.0", linuxAMD64)
	c := Open(root)
	list, err := c.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	return c, list[0]
}

func appendByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func wantTampered(t *testing.T, err error, e *Entry) {
	t.Helper()
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("Verify = %v; want an ErrTampered error", err)
	}
	now := fileSHA256(t, e.Path)
	want := fmt.Sprintf("runtime shell 2.0.0 (linux/amd64) at %s does not match its recorded SHA-256 (recorded %s…, now %s…); reinstall it with 'bgjob runtime install'",
		e.Path, e.SHA256[:12], now[:12])
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
}

// noSettling trusts a file's stat however recently it changed, for a test
// that wants the caches used at once.
func noSettling(t *testing.T) { settleAfter(t, 0) }

// settleAfter has the catalog wait d, whatever the file system, before it
// trusts a changed file's stat, for the rest of the test.
func settleAfter(t *testing.T, d time.Duration) {
	old, oldCoarse := settledFor, coarseSettledFor
	settledFor, coarseSettledFor = d, d
	t.Cleanup(func() { settledFor, coarseSettledFor = old, oldCoarse })
}

// A file changed within the last clock tick or so is not trusted from its
// stat (two changes in one tick can leave the same times): it is hashed
// again, and cached only once it has settled.
func TestVerifyRecentFileNotCached(t *testing.T) {
	settleAfter(t, time.Hour) // however slow the machine, the file is recent
	c, e := oneEntry(t)
	if err := c.Verify(e); err != nil {
		t.Fatal(err)
	}
	if _, cached := c.verified[e.Path]; cached {
		t.Errorf("a file installed just now was cached")
	}
}

// ...and once it has settled, a stat stands for it: a tenth of a second
// after its last change on a file system this kernel stamps with
// nanosecond times (the test's temporary folder is on one), not the second
// it once took, which every job paid for again after an install.
func TestVerifyCachedOnceSettled(t *testing.T) {
	c, e := oneEntry(t)
	id, ok := statID(mustStat(t, e.Path))
	if !ok {
		t.Skip("no file identity from stat on this system: nothing is cached")
	}
	if id.ctime%int64(time.Second) == 0 || !stampedHere(e.Path) {
		t.Skipf("%s is not on a file system this kernel stamps with nanoseconds; this test is of the short wait", e.Path)
	}
	time.Sleep(150 * time.Millisecond)
	if err := c.Verify(e); err != nil {
		t.Fatal(err)
	}
	if _, cached := c.verified[e.Path]; !cached {
		t.Errorf("a file left alone 150 ms was not cached")
	}
}

// How long a file must be left alone depends on the grain of its times and
// on whose clock set them.
func TestSettled(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 30, 0, 500_000_000, time.UTC)
	fine := func(ago time.Duration) int64 { return now.Add(-ago).UnixNano() + 7 } // never a whole second
	whole := func(ago time.Duration) int64 { return now.Add(-ago).Truncate(time.Second).UnixNano() }
	for _, tc := range []struct {
		name         string
		mtime, ctime int64
		here         bool // on a file system this kernel stamps
		want         bool
	}{
		{"fine times, changed just now", fine(0), fine(0), true, false},
		{"fine times, changed 50 ms ago", fine(50 * time.Millisecond), fine(50 * time.Millisecond), true, false},
		{"fine times, changed 200 ms ago", fine(200 * time.Millisecond), fine(200 * time.Millisecond), true, true},
		{"fine times set by another machine, 200 ms ago", fine(200 * time.Millisecond), fine(200 * time.Millisecond), false, false},
		{"fine times set by another machine, 4 s ago", fine(4 * time.Second), fine(4 * time.Second), false, true},
		{"mtime set back, ctime just now", fine(time.Hour), fine(0), true, false},
		{"whole-second mtime (cp -p), fine ctime 200 ms ago", whole(time.Hour), fine(200 * time.Millisecond), true, true},
		{"whole seconds, changed 1.5 s ago", whole(1500 * time.Millisecond), whole(1500 * time.Millisecond), true, false},
		{"whole seconds, changed 4 s ago", whole(4 * time.Second), whole(4 * time.Second), true, true},
	} {
		asked := false
		id := fileID{mtime: tc.mtime, ctime: tc.ctime}
		if got := id.settledAt(now, func() bool { asked = true; return tc.here }); got != tc.want {
			t.Errorf("%s: settled = %v, want %v", tc.name, got, tc.want)
		}
		if age := now.Sub(time.Unix(0, max(tc.mtime, tc.ctime))); asked && (age <= settledFor || age > coarseSettledFor) {
			t.Errorf("%s: the file system was looked at for a file %v old", tc.name, age)
		}
	}
}

func TestVerifyDetectsAppendedByteAfterCachedSuccess(t *testing.T) {
	noSettling(t)
	c, e := oneEntry(t)
	for i := range 2 { // the second call is answered from the cache
		if err := c.Verify(e); err != nil {
			t.Fatalf("Verify #%d of an intact binary: %v", i+1, err)
		}
	}
	if _, ok := statID(mustStat(t, e.Path)); ok {
		if _, cached := c.verified[e.Path]; !cached {
			t.Errorf("successful Verify was not cached")
		}
	}
	appendByte(t, e.Path)
	wantTampered(t, c.Verify(e), e)
	if _, cached := c.verified[e.Path]; cached {
		t.Errorf("a failed Verify left the path in the cache")
	}
	wantTampered(t, c.Verify(e), e) // and it stays failed
}

func TestVerifyDetectsSameSizeRewriteWithRestoredMtime(t *testing.T) {
	c, e := oneEntry(t)
	if err := c.Verify(e); err != nil {
		t.Fatal(err)
	}
	fi := mustStat(t, e.Path)
	data, err := os.ReadFile(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-2] ^= 0x20 // same size, different content
	if err := os.WriteFile(e.Path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// Hide the write from size and mtime; only ctime can tell.
	if err := os.Chtimes(e.Path, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	wantTampered(t, c.Verify(e), e)
}

func TestVerifyAcceptsRestoredOrReplacedContent(t *testing.T) {
	c, e := oneEntry(t)
	orig, err := os.ReadFile(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	appendByte(t, e.Path)
	if err := c.Verify(e); !errors.Is(err, ErrTampered) {
		t.Fatalf("Verify after append = %v; want ErrTampered", err)
	}
	// Same bytes again, as a new file renamed into place (a new inode).
	tmp := filepath.Join(e.Dir, ".new")
	if err := os.WriteFile(tmp, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.Path); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(e); err != nil {
		t.Errorf("Verify after restoring the original bytes: %v", err)
	}
}

func TestVerifyCacheIsPerRecordedHash(t *testing.T) {
	c, e := oneEntry(t)
	if err := c.Verify(e); err != nil {
		t.Fatal(err)
	}
	// Same file, different recorded hash (as after a reinstall whose
	// manifest no longer matches): must not be answered from the cache.
	other := *e
	other.SHA256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := c.Verify(&other); !errors.Is(err, ErrTampered) {
		t.Errorf("Verify with a different recorded hash = %v; want ErrTampered", err)
	}
}

func TestVerifyMissingBinary(t *testing.T) {
	c, e := oneEntry(t)
	if err := c.Verify(e); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.Path); err != nil {
		t.Fatal(err)
	}
	err := c.Verify(e)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrTampered) {
		t.Fatalf("Verify of a removed binary = %v; want a not-exist error", err)
	}
	want := fmt.Sprintf("runtime shell 2.0.0 (linux/amd64) is missing its binary %s: ", e.Path)
	if got := err.Error(); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("error = %q; want it to start with %q", got, want)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	c, e := oneEntry(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := c.Verify(e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestVerifyAll(t *testing.T) {
	root := t.TempDir()
	good := addEntry(t, root, "a", "1.0.0", linuxAMD64)
	tampered := addEntry(t, root, "b", "1.0.0", linuxAMD64)
	missing := addEntry(t, root, "c", "1.0.0", linuxAMD64)
	appendByte(t, tampered)
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}

	results, err := Open(root).VerifyAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path string
		ok   bool
		is   error
	}{
		{good, true, nil},
		{tampered, false, ErrTampered},
		{missing, false, fs.ErrNotExist},
	}
	if len(results) != len(want) {
		t.Fatalf("VerifyAll returned %d results; want %d", len(results), len(want))
	}
	for i, w := range want {
		r := results[i]
		if r.Entry.Path != w.path || r.OK() != w.ok || (w.is != nil && !errors.Is(r.Err, w.is)) {
			t.Errorf("result %d = {%s, ok=%v, %v}; want {%s, ok=%v, %v}", i, r.Entry.Path, r.OK(), r.Err, w.path, w.ok, w.is)
		}
	}

	if results, err := Open(filepath.Join(root, "missing")).VerifyAll(); err != nil || len(results) != 0 {
		t.Errorf("VerifyAll of an empty catalog = %v, %v; want nothing", results, err)
	}
}

func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// Unchanged answers from one stat only for the very file a full check
// passed: a folder made writable by others since is not seen while that
// file stays (nothing is run on the answer; the launcher's OpenVerified
// walks the folders), but a new file at the path, or nothing verified
// yet, gets the whole check and its refusal.
func TestUnchangedWalksOnlyForAnotherFile(t *testing.T) {
	noSettling(t)
	c, e := oneEntry(t)
	// open makes the entry's folder writable by others; shut puts it
	// back and verifies the entry in full.
	chmod := func(mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(e.Dir, mode); err != nil {
			t.Fatal(err)
		}
	}
	open := func() { t.Helper(); chmod(0o777) }
	shut := func() {
		t.Helper()
		chmod(0o755)
		if err := c.Verify(e); err != nil {
			t.Fatal(err)
		}
	}
	open()
	if err := c.Unchanged(e); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Unchanged with nothing verified and a folder others can write = %v; want ErrUnsafe", err)
	}
	shut()
	open()
	if err := c.Verify(e); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Verify with a folder others can write = %v; want ErrUnsafe", err)
	}
	// Verify's refusal forgot the file: walked again, refused again.
	if err := c.Unchanged(e); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Unchanged after a refusal = %v; want ErrUnsafe", err)
	}
	shut()
	open()
	if err := c.Unchanged(e); err != nil {
		t.Errorf("Unchanged for the file verified last = %v; want nil (one stat)", err)
	}
	// Someone who can write the folder puts the same bytes back as a new
	// file: another inode, so the folders are walked, and refused.
	data, err := os.ReadFile(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(e.Dir, ".new")
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.Path); err != nil {
		t.Fatal(err)
	}
	if err := c.Unchanged(e); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Unchanged for a new file at the path = %v; want ErrUnsafe", err)
	}
	// And a changed byte is a hash mismatch, whatever the folders.
	shut()
	appendByte(t, e.Path)
	wantTampered(t, c.Unchanged(e), e)
}
