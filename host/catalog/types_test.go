package catalog

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/sdk"
)

// A type resolves to the newest stable build of the one plugin claiming
// it; an unknown type lists what is installed.
func TestResolveType(t *testing.T) {
	root := t.TempDir()
	host := plat{runtime.GOOS, runtime.GOARCH}
	copyT := sdk.TypeInfo{Name: "Copy", Runs: true, Resolves: true}
	addEntry(t, root, "copy", "1.0.0", host, copyT)
	addEntry(t, root, "copy", "1.2.0", host, copyT)
	addEntry(t, root, "copy", "2.0.0-rc.1", host, copyT)
	addEntry(t, root, "scheduled", "1.0.0", host, sdk.TypeInfo{Name: "ScheduledJob", Resolves: true, Lists: true})
	addEntry(t, root, "shell", "2.0.0", host)
	c := Open(root)

	e, info, err := c.ResolveType("Copy", "", "", "")
	if err != nil || e.Name != "copy" || e.Version != "1.2.0" || info != copyT {
		t.Errorf("ResolveType(Copy) = %v %+v %v, want copy 1.2.0 (the newest stable) %+v", e, info, err, copyT)
	}
	_, _, err = c.ResolveType("Nope", "", "", "")
	if !errors.Is(err, ErrNoType) || !strings.Contains(err.Error(), "BackgroundJob (plain scripts), Copy, ScheduledJob") {
		t.Errorf("ResolveType(Nope) = %v, want ErrNoType listing the types", err)
	}
	types, err := c.Types()
	if err != nil || !slices.Equal(types, []string{"Copy", "ScheduledJob"}) {
		t.Errorf("Types() = %v %v", types, err)
	}

	// The newest copy dropped the type: said so, not an older build.
	addEntry(t, root, "copy", "1.3.0", host)
	if _, _, err := c.ResolveType("Copy", "", "", ""); !errors.Is(err, ErrNoType) || !strings.Contains(err.Error(), "copy 1.3.0") {
		t.Errorf("ResolveType(Copy) with the newest build not serving it = %v", err)
	}
}

// A type's plugin is pinned by a version constraint, as a runtime is: the
// newest version of it that matches serves the type.
func TestResolveTypeVersion(t *testing.T) {
	root := t.TempDir()
	host := plat{runtime.GOOS, runtime.GOARCH}
	copyT := sdk.TypeInfo{Name: "Copy", Runs: true, Resolves: true}
	addEntry(t, root, "copy", "1.0.0", host, copyT)
	addEntry(t, root, "copy", "1.2.0", host, copyT)
	addEntry(t, root, "copy", "1.3.0", host) // dropped the type
	addEntry(t, root, "copy", "2.0.0-rc.1", host, copyT)
	addEntry(t, root, "copy", "2.0.0", plat{"plan9", "amd64"}, copyT)
	c := Open(root)
	for _, tt := range []struct {
		constraint string
		want       string // the version; "" an error
		err        error  // what the error wraps
		says       string // and says
	}{
		{"", "", ErrNoType, "Copy in copy 1.3.0, the newest copy; install a version that serves it"},
		{"1.0.0", "1.0.0", nil, ""},
		{"~1.2", "1.2.0", nil, ""},
		{"<1.3", "1.2.0", nil, ""},
		{"^1", "", ErrNoType, "Copy in copy 1.3.0, the newest copy matching ^1;"},
		{">=2.0.0-0", "2.0.0-rc.1", nil, ""},
		{">=2", "", ErrNoRuntime, "the job type Copy is served by copy, but: no runtime 'copy' matches >=2 for " + runtime.GOOS + "/" + runtime.GOARCH},
		{">>1", "", ErrBadConstraint, `">>1"`},
	} {
		e, info, err := c.ResolveType("Copy", tt.constraint, "", "")
		if tt.want != "" {
			if err != nil || e.Version != tt.want || info != copyT {
				t.Errorf("ResolveType(Copy, %q) = %v %+v %v, want copy %s", tt.constraint, e, info, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("ResolveType(Copy, %q) = %v %v, want an error wrapping %v saying %q", tt.constraint, e, err, tt.err, tt.says)
		}
	}
}

// A type belongs to one plugin: another plugin claiming it is refused,
// another build of the same plugin is not.
func TestTypesFree(t *testing.T) {
	root := t.TempDir()
	host := plat{runtime.GOOS, runtime.GOARCH}
	addEntry(t, root, "copy", "1.0.0", host, sdk.TypeInfo{Name: "Copy", Runs: true})
	c := Open(root)
	manifest := func(name string, types ...string) *Manifest {
		m := &Manifest{Description: sdk.Description{Name: name, Version: "2.0.0"}}
		for _, n := range types {
			m.JobTypes = append(m.JobTypes, sdk.TypeInfo{Name: n})
		}
		return m
	}
	if err := c.checkTypesFree(manifest("copy", "Copy")); err != nil {
		t.Errorf("a new version of copy: %v", err)
	}
	if err := c.checkTypesFree(manifest("rsync", "Sync")); err != nil {
		t.Errorf("a plugin with a new type: %v", err)
	}
	err := c.checkTypesFree(manifest("mycopy", "Mirror", "Copy"))
	if err == nil || !strings.Contains(err.Error(), "the job type Copy is already served by the plugin copy") {
		t.Errorf("a second plugin claiming Copy: %v", err)
	}
}

// A description's types must be words, unique, not BackgroundJob, and
// served over protocol 2.
func TestCheckJobTypes(t *testing.T) {
	base := func() Manifest {
		return Manifest{Description: sdk.Description{Name: "x", Version: "1.0.0", OS: "linux", Arch: "amd64", Protocol: 2}}
	}
	tests := []struct {
		name string
		edit func(*Manifest)
		want string
	}{
		{"fine", func(m *Manifest) { m.JobTypes = []sdk.TypeInfo{{Name: "Copy"}, {Name: "Sync"}} }, ""},
		{"reserved", func(m *Manifest) { m.JobTypes = []sdk.TypeInfo{{Name: "BackgroundJob"}} }, "bgjob's own"},
		{"not a word", func(m *Manifest) { m.JobTypes = []sdk.TypeInfo{{Name: "my type"}} }, "not a word"},
		{"twice", func(m *Manifest) { m.JobTypes = []sdk.TypeInfo{{Name: "Copy"}, {Name: "Copy"}} }, "listed twice"},
		{"protocol 1 only", func(m *Manifest) {
			m.Protocol, m.Protocols = 1, []int{1}
			m.JobTypes = []sdk.TypeInfo{{Name: "Copy"}}
		}, "not protocol 2"},
	}
	for _, tt := range tests {
		m := base()
		tt.edit(&m)
		_, err := m.check()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: check() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// List caches what manifests say, but never past a change to the file.
func TestListSeesManifestChanges(t *testing.T) {
	root := t.TempDir()
	host := plat{runtime.GOOS, runtime.GOARCH}
	addEntry(t, root, "copy", "1.0.0", host)
	c := Open(root)
	if _, _, err := c.ResolveType("Copy", "", "", ""); !errors.Is(err, ErrNoType) {
		t.Fatalf("before: %v", err)
	}
	addEntry(t, root, "copy", "1.0.0", host, sdk.TypeInfo{Name: "Copy", Runs: true}) // the manifest rewritten
	if e, _, err := c.ResolveType("Copy", "", "", ""); err != nil || e.Version != "1.0.0" {
		t.Errorf("after the manifest changed: %v %v", e, err)
	}
}
