package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := Write(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	// A directory that does not exist: an error, nothing created.
	if err := Write(filepath.Join(dir, "no", "f"), []byte("x"), 0o600); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

func TestAbortAndCommitOnce(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, ".x-*")
	if err != nil {
		t.Fatal(err)
	}
	name := f.Name()
	f.Abort()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("Abort left %s: %v", name, err)
	}
	if err := f.Commit(filepath.Join(dir, "y"), 0o600); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	// A failed rename (onto a non-empty directory) removes the temporary.
	g, _ := Create(dir, ".g-*")
	os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o700)
	if err := g.Commit(filepath.Join(dir, "d"), 0o600); err == nil {
		t.Error("Commit onto a directory succeeded")
	}
	if _, err := os.Stat(g.Name()); !os.IsNotExist(err) {
		t.Errorf("a failed Commit left %s", g.Name())
	}
}

// SyncDir syncs a folder that is there and says so of one that is not.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Errorf("SyncDir of %s: %v", dir, err)
	}
	if runtime.GOOS != "windows" {
		if err := SyncDir(filepath.Join(dir, "missing")); err == nil {
			t.Error("SyncDir of a folder that does not exist returned no error")
		}
	}
}
