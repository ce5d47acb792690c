package identity

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bgjob/bgjob/host/store"
)

// TestAsUser: a file only root may read is refused to another user, one
// of a supplementary group of theirs is not, and the calling thread keeps
// root's access afterwards.
func TestAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it reads as another user")
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // t.TempDir's are 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	private := filepath.Join(dir, "private")
	group := filepath.Join(dir, "group")
	for _, f := range []string{private, group} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(group, 0, 4242); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(group, 0o640); err != nil {
		t.Fatal(err)
	}
	id := &store.Identity{UID: 4241, GID: 4241, Groups: []uint32{4242}}
	read := func(path string) error {
		return AsUser(id, func() error { _, err := os.ReadFile(path); return err })
	}
	if err := read(private); !errors.Is(err, os.ErrPermission) {
		t.Errorf("root's 0600 file read as uid 4241: err %v, want permission denied", err)
	}
	if err := read(group); err != nil {
		t.Errorf("a 0640 file of the user's supplementary group: %v", err)
	}
	for range 20 { // whichever thread runs this, it is root's still
		if _, err := os.ReadFile(private); err != nil {
			t.Fatalf("root cannot read its own file after AsUser: %v", err)
		}
	}
}
