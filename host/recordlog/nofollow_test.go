//go:build unix

package recordlog

import (
	"os"
	"path/filepath"
	"testing"
)

// A job's record log that is a symbolic link (planted by whoever could
// write the home's folders) is not followed: opening it for a run, which
// cuts it to its recorded size, must not cut the link's target, a file
// the host's user (root, for the system host) may write.
func TestOpenDoesNotFollowLink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("root's file, keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jobs := filepath.Join(dir, "jobs")
	if err := os.Mkdir(jobs, 0o700); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(jobs, "1.log")
	if err := os.Symlink(victim, log); err != nil {
		t.Fatal(err)
	}
	if w, err := Open(log, 0); err == nil {
		w.Close()
		t.Error("Open followed the symbolic link jobs/1.log")
	}
	if _, err := Scan(log); err == nil {
		t.Error("Scan read through the symbolic link jobs/1.log")
	}
	if b, _ := os.ReadFile(victim); string(b) != "root's file, keep me\n" {
		t.Errorf("the link's target was changed: %q", b)
	}
}
