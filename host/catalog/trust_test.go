//go:build unix

package catalog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A catalog entry that someone other than root and the host's user could
// change is refused wherever it is used (resolve, launch, verify, list),
// with an error naming the path to fix: a user who can write a binary's
// folder can replace the binary and its manifest's hash together.
func TestUnsafeEntriesRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		root   bool // needs root (chown to another uid, a root-owned sticky folder)
		unsafe func(t *testing.T, root, dir, bin string) string
		ok     bool // the change is harmless: the entry is still used
	}{
		{name: "group-writable binary", unsafe: func(t *testing.T, root, dir, bin string) string {
			chmod(t, bin, 0o775)
			return bin
		}},
		{name: "other-writable manifest", unsafe: func(t *testing.T, root, dir, bin string) string {
			m := filepath.Join(dir, manifestFile)
			chmod(t, m, 0o646)
			return m
		}},
		{name: "group-writable platform folder", unsafe: func(t *testing.T, root, dir, bin string) string {
			chmod(t, dir, 0o775)
			return dir
		}},
		{name: "version folder owned by another uid", root: true, unsafe: func(t *testing.T, root, dir, bin string) string {
			v := filepath.Dir(dir)
			if err := os.Chown(v, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return v
		}},
		{name: "catalog root writable by others", unsafe: func(t *testing.T, root, dir, bin string) string {
			chmod(t, root, 0o777)
			return root
		}},
		{name: "sticky catalog root writable by others", root: true, unsafe: func(t *testing.T, root, dir, bin string) string {
			chmod(t, root, 0o777|os.ModeSticky)
			return root
		}},
		{name: "parent of the root writable by others", unsafe: func(t *testing.T, root, dir, bin string) string {
			p := filepath.Dir(root)
			chmod(t, p, 0o777)
			return p
		}},
		{name: "parent of the root owned by another uid", root: true, unsafe: func(t *testing.T, root, dir, bin string) string {
			p := filepath.Dir(root)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "sticky root-owned parent of the root", root: true, ok: true, unsafe: func(t *testing.T, root, dir, bin string) string {
			p := filepath.Dir(root)
			chmod(t, p, 0o777|os.ModeSticky)
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to give a folder to another user or to root")
			}
			parent := filepath.Join(t.TempDir(), "parent")
			if err := os.Mkdir(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(parent, "runtimes")
			bin := addEntry(t, root, "shell", "2.0.0", linuxAMD64)
			dir := filepath.Dir(bin)
			c := Open(root)
			// Trusted first, so a cached verification is in place.
			if e, err := c.Resolve("shell", "", "linux", "amd64"); err != nil {
				t.Fatal(err)
			} else if err := c.Verify(e); err != nil {
				t.Fatal(err)
			}
			path := tc.unsafe(t, root, dir, bin)

			e, err := c.Resolve("shell", "", "linux", "amd64")
			if err == nil {
				err = c.Verify(e)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("with %s: %v", path, err)
				}
				return
			}
			wantRefusal(t, "Resolve and Verify", err, path)
			t.Log(err)
			// Verifying the entry as the launcher knows it (path and the
			// hash the job's row recorded when it was trusted) is refused
			// too; the manifest is not the launcher's to read.
			if path != filepath.Join(dir, manifestFile) {
				le := &Entry{Path: bin, Manifest: Manifest{SHA256: fileSHA256(t, bin)}}
				f, err := c.OpenVerified(le)
				if err == nil {
					f.Close()
				}
				wantRefusal(t, "OpenVerified", err, path)
			}
			// runtime verify reports it.
			results, err := c.VerifyAll()
			if err == nil {
				err = firstError(results)
			}
			wantRefusal(t, "VerifyAll", err, path)
			// runtime list shows the entry as refused, not leaving it out,
			// unless the whole catalog is refused.
			entries, err := c.List()
			if err != nil {
				wantRefusal(t, "List", err, path)
				return
			}
			var table bytes.Buffer
			FormatTable(&table, entries)
			if !strings.Contains(table.String(), "refused") || !strings.Contains(table.String(), path) {
				t.Errorf("runtime list does not show the entry refused because of %s:\n%s", path, table.String())
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func firstError(results []VerifyResult) error {
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// wantRefusal checks that err refuses path, naming it and the fix.
func wantRefusal(t *testing.T, what string, err error, path string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s accepted the entry with %s unsafe", what, path)
		return
	}
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("%s: %v, want an ErrUnsafe error", what, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, path+" ") || !strings.Contains(msg, "chmod go-w") && !strings.Contains(msg, "chown") {
		t.Errorf("%s: %v\nwant a refusal naming %s and the chmod or chown that fixes it", what, err, path)
	}
}

// Resolve reads the versions it could run, newest first, and in each only
// the platform asked for: another version's damaged manifest or another
// platform's unsafe one does not stop a start that runs neither (each is
// still refused when it is the one to run).
func TestResolveReadsWhatItRuns(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "2.1.0", linuxAMD64)
	old := addEntry(t, root, "shell", "1.4.2", linuxAMD64)
	if err := os.WriteFile(filepath.Join(filepath.Dir(old), manifestFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	b32 := addEntry(t, root, "shell", "2.1.0", linux386)
	chmod(t, filepath.Join(filepath.Dir(b32), manifestFile), 0o664)
	c := Open(root)

	e, err := c.Resolve("shell", "", "linux", "amd64")
	if err != nil || e.Version != "2.1.0" {
		t.Fatalf("Resolve = %v, %v; want shell 2.1.0 beside the others' damage", e, err)
	}
	if _, err := c.Resolve("shell", "~1.4", "linux", "amd64"); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("Resolve of the damaged version: %v, want its manifest's error", err)
	}
	if _, err := c.Resolve("shell", "", "linux", "386"); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Resolve of the unsafe platform: %v, want ErrUnsafe", err)
	}

	// ResolveOpen: the entry and its binary, opened as OpenVerified
	// opens it; a binary that fails verification is an *OpenError.
	e, f, err := c.ResolveOpen("shell", "", "linux", "amd64")
	if err != nil || e.Version != "2.1.0" {
		t.Fatalf("ResolveOpen = %v, %v", e, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Name() != filepath.Base(e.Path) {
		t.Errorf("ResolveOpen opened %v, %v; want %s", fi, err, e.Path)
	}
	f.Close()
	if err := os.WriteFile(e.Path, []byte("#!/bin/sh\n# swapped\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var oe *OpenError
	if _, _, err := c.ResolveOpen("shell", "", "linux", "amd64"); !errors.As(err, &oe) || !errors.Is(err, ErrTampered) {
		t.Errorf("ResolveOpen of a swapped binary: %v, want an *OpenError wrapping ErrTampered", err)
	}
	if _, _, err := c.ResolveOpen("shell", "", "linux", "arm64"); err == nil || errors.As(err, &oe) {
		t.Errorf("ResolveOpen of a platform not installed: %v, want the lookup's error, not an *OpenError", err)
	}
}
