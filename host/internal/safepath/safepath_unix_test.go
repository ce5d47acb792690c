//go:build unix

package safepath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Chain refuses a folder others may write wherever it is on the way: on
// the path itself, or behind a link (the walk that resolves links is taken
// only when there is one, and must still be taken then). sticky is asked
// only about a sticky folder others may write.
func TestChain(t *testing.T) {
	// The test's own folders: t.TempDir is under a sticky /tmp.
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	mk := func(rel string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(base, rel)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := mk("good", 0o755)
	open := mk("open", 0o777)
	for _, d := range []string{good, open} {
		if err := os.WriteFile(filepath.Join(d, "bin"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(open, "bin"), filepath.Join(good, "to-open")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(good, "bin"), filepath.Join(good, "to-good")); err != nil {
		t.Fatal(err)
	}
	var asked []string
	sticky := func(dir string) bool {
		asked = append(asked, dir)
		return true // a sticky folder, as /tmp, is allowed
	}
	for _, tc := range []struct {
		path   string
		refuse string // the folder refused, or "" for none
	}{
		{filepath.Join(good, "bin"), ""},
		{filepath.Join(open, "bin"), open},
		{filepath.Join(good, "to-good"), ""},
		{filepath.Join(good, "to-open"), open},
	} {
		asked = nil
		err := Chain(tc.path, sticky)
		var se *Error
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("Chain(%s): %v, want nil", tc.path, err)
		case tc.refuse != "" && (!errors.As(err, &se) || se.Path != tc.refuse):
			t.Errorf("Chain(%s): %v, want %s refused", tc.path, err, tc.refuse)
		}
		for _, d := range asked {
			fi, err := os.Lstat(d)
			if err != nil || !stickyDir(fi) {
				t.Errorf("Chain(%s) asked sticky about %s, not a sticky folder others may write", tc.path, d)
			}
		}
	}
}
