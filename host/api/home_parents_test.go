//go:build unix

package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A home is only as safe as the folders above it: whoever may rename an
// entry in one of them can swap the home for another (one full of links)
// after it was checked. So every folder up to / must belong to root or the
// user and not be writable by group or others, except a root-owned sticky
// one such as /tmp, where no one may rename what is not theirs.
func TestCheckHomeParents(t *testing.T) {
	type setup func(t *testing.T, parent string) string // returns the folder to name
	for _, tc := range []struct {
		name  string
		root  bool
		setup setup
		ok    bool
	}{
		{name: "parent writable by others", setup: func(t *testing.T, parent string) string {
			chmodT(t, parent, 0o777)
			return parent
		}},
		{name: "parent writable by its group", setup: func(t *testing.T, parent string) string {
			chmodT(t, parent, 0o775)
			return parent
		}},
		{name: "grandparent writable by others", setup: func(t *testing.T, parent string) string {
			gp := filepath.Dir(parent)
			chmodT(t, gp, 0o777)
			return gp
		}},
		{name: "parent owned by another uid", root: true, setup: func(t *testing.T, parent string) string {
			if err := os.Chown(parent, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return parent
		}},
		{name: "sticky root-owned parent writable by all", root: true, ok: true, setup: func(t *testing.T, parent string) string {
			chmodT(t, parent, 0o777|os.ModeSticky)
			return parent
		}},
		{name: "private parents", ok: true, setup: func(t *testing.T, parent string) string { return parent }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to give a folder to another user or to root")
			}
			gp := filepath.Join(t.TempDir(), "gp")
			parent := filepath.Join(gp, "parent")
			home := filepath.Join(parent, "home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				t.Fatal(err)
			}
			chmodT(t, gp, 0o755)
			chmodT(t, parent, 0o755)
			bad := tc.setup(t, parent)
			err := CheckHome(home)
			if tc.ok {
				if err != nil {
					t.Errorf("CheckHome: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "folder "+bad+",") || !strings.Contains(err.Error(), "chmod go-w") && !strings.Contains(err.Error(), "chown") {
				t.Errorf("CheckHome with %s unsafe: %v; want a refusal naming it and its fix", bad, err)
			}
			// PrepareHome writes nothing into such a home.
			if f, err := PrepareHome(home); err == nil {
				f.Close()
				t.Errorf("PrepareHome accepted a home below %s", bad)
			}
			if des, _ := os.ReadDir(home); len(des) != 0 {
				t.Errorf("something was written in the refused home: %v", des)
			}
		})
	}
}

func chmodT(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
