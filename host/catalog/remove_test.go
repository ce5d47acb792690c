package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRemove(t *testing.T) {
	// Every case starts from this catalog.
	setup := func(t *testing.T, root string) {
		addEntry(t, root, "shell", "2.0.0", linuxAMD64)
		addEntry(t, root, "shell", "2.0.0", linux386)
		addEntry(t, root, "shell", "2.0.0", darwinARM64)
		addEntry(t, root, "shell", "1.5.0", linuxAMD64)
		addEntry(t, root, "pwsh", "7.4.0", linuxAMD64)
	}
	tests := []struct {
		name                   string
		rmName, version, os, a string
		removed                []string // as Entry.String says
		wantErr                string   // a substring of the error
		left                   []string // what List says afterwards
		gone                   []string // folders under root that must be gone
		kept                   []string // and ones that must stay
	}{
		{
			name: "every build of a version", rmName: "shell", version: "2.0.0",
			removed: []string{"runtime shell 2.0.0 (darwin/arm64)", "runtime shell 2.0.0 (linux/amd64)", "runtime shell 2.0.0 (linux/386)"},
			left:    []string{"pwsh 7.4.0 linux/amd64", "shell 1.5.0 linux/amd64"},
			gone:    []string{"shell/2.0.0"}, kept: []string{"shell/1.5.0"},
		},
		{
			name: "one architecture", rmName: "shell", version: "2.0.0", a: "386",
			removed: []string{"runtime shell 2.0.0 (linux/386)"},
			left:    []string{"pwsh 7.4.0 linux/amd64", "shell 2.0.0 darwin/arm64", "shell 2.0.0 linux/amd64", "shell 1.5.0 linux/amd64"},
			gone:    []string{"shell/2.0.0/linux_386"}, kept: []string{"shell/2.0.0/linux_amd64"},
		},
		{
			name: "one platform", rmName: "shell", version: "2.0.0", os: "darwin", a: "arm64",
			removed: []string{"runtime shell 2.0.0 (darwin/arm64)"},
			left:    []string{"pwsh 7.4.0 linux/amd64", "shell 2.0.0 linux/amd64", "shell 2.0.0 linux/386", "shell 1.5.0 linux/amd64"},
		},
		{
			name: "the last version of a name", rmName: "pwsh", version: "7.4.0",
			removed: []string{"runtime pwsh 7.4.0 (linux/amd64)"},
			left:    []string{"shell 2.0.0 darwin/arm64", "shell 2.0.0 linux/amd64", "shell 2.0.0 linux/386", "shell 1.5.0 linux/amd64"},
			gone:    []string{"pwsh"},
		},
		{
			name: "a version not installed", rmName: "shell", version: "3.0.0",
			wantErr: "no runtime shell 3.0.0 is installed in ROOT; installed of shell: 2.0.0 (darwin/arm64, linux/amd64, linux/386), 1.5.0 (linux/amd64)",
		},
		{
			name: "an architecture not installed", rmName: "shell", version: "1.5.0", a: "386",
			wantErr: "no runtime shell 1.5.0 for */386 is installed in ROOT; installed of shell: 2.0.0",
		},
		{
			name: "a name not installed", rmName: "bash", version: "1.0.0",
			wantErr: "no runtime named bash is installed in ROOT; installed: pwsh, shell",
		},
		{name: "a path as the name", rmName: "../x", version: "1.0.0", wantErr: `"../x" is not a plugin name`},
		{name: "a dot-version", rmName: "shell", version: "..", wantErr: `".." is not a plugin version`},
		{name: "no version", rmName: "shell", version: "", wantErr: `"" is not a plugin version`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			setup(t, root)
			c := Open(root)
			before, _ := c.List()
			// A verified binary is forgotten once removed.
			for _, e := range before {
				if err := c.Verify(e); err != nil {
					t.Fatal(err)
				}
			}
			removed, err := c.Remove(tt.rmName, tt.version, tt.os, tt.a)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "ROOT", root)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("Remove = %v, want an error containing %q", err, want)
				}
				if !errors.Is(err, ErrNoRuntime) && strings.HasPrefix(tt.wantErr, "no runtime") {
					t.Errorf("the error does not wrap ErrNoRuntime: %v", err)
				}
				if after, _ := c.List(); len(after) != len(before) {
					t.Errorf("a failed Remove changed the catalog: %d entries, had %d", len(after), len(before))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range removed {
				got = append(got, e.String())
				if _, err := os.Stat(e.Dir); !os.IsNotExist(err) {
					t.Errorf("%s: its folder %s is still there (%v)", e, e.Dir, err)
				}
				c.mu.Lock()
				_, cached := c.verified[e.Path]
				c.mu.Unlock()
				if cached {
					t.Errorf("%s: still in the verification cache", e)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.removed, "\n") {
				t.Errorf("removed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.removed, "\n"))
			}
			after, err := c.List()
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, e := range after {
				left = append(left, e.Name+" "+e.Version+" "+e.OS+"/"+e.Arch)
			}
			if strings.Join(left, "\n") != strings.Join(tt.left, "\n") {
				t.Errorf("left:\n%s\nwant:\n%s", strings.Join(left, "\n"), strings.Join(tt.left, "\n"))
			}
			for _, g := range tt.gone {
				if _, err := os.Stat(filepath.Join(root, g)); !os.IsNotExist(err) {
					t.Errorf("%s is still there (%v)", g, err)
				}
			}
			for _, k := range tt.kept {
				if _, err := os.Stat(filepath.Join(root, k)); err != nil {
					t.Errorf("%s is gone: %v", k, err)
				}
			}
			noStaging(t, root)
			noStaging(t, filepath.Join(root, "shell", "2.0.0"))
		})
	}
}

// A build whose manifest is damaged, which List refuses, can be removed,
// as can a folder an interrupted install left; so can the last build on an
// empty catalog's neighbours.
func TestRemoveDamaged(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "2.0.0", linuxAMD64)
	addEntry(t, root, "shell", "2.0.0", linux386)
	if err := os.WriteFile(filepath.Join(root, "shell", "2.0.0", "linux_386", manifestFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "shell", "2.0.0", "linux_arm"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := Open(root)
	if _, err := c.List(); err == nil {
		t.Fatal("List accepts a damaged manifest")
	}
	removed, err := c.Remove("shell", "2.0.0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range removed {
		got = append(got, e.String())
	}
	if want := "runtime shell 2.0.0 (linux/amd64),runtime shell 2.0.0 (linux/386),runtime shell 2.0.0 (linux/arm)"; strings.Join(got, ",") != want {
		t.Errorf("removed %q, want %q", got, want)
	}
	if list, err := c.List(); err != nil || len(list) != 0 {
		t.Errorf("List after removing everything = %v, %v", list, err)
	}
	if _, err := os.Stat(filepath.Join(root, "shell")); !os.IsNotExist(err) {
		t.Errorf("the empty folder shell is left (%v)", err)
	}
	// Now the catalog is empty.
	_, err = c.Remove("shell", "2.0.0", "", "")
	if err == nil || !strings.Contains(err.Error(), "the runtime catalog "+root+" is empty") {
		t.Errorf("Remove on an empty catalog: %v", err)
	}
	// And a catalog that was never made.
	_, err = Open(filepath.Join(root, "none")).Remove("shell", "2.0.0", "", "")
	if err == nil || !errors.Is(err, ErrNoRuntime) {
		t.Errorf("Remove on a missing catalog: %v", err)
	}
}
