package catalog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Remove uninstalls version of the plugin name: the folders
// <name>/<version>/<os>_<arch> whose OS is goos and architecture goarch,
// either of which may be empty for all (so by default every build of that
// version goes). It returns what it removed, in List's order, and then
// removes the version's and the name's folders if nothing else is left in
// them.
//
// It works on the folders, not on the manifests alone, so that a build
// whose manifest is damaged (which List refuses) can be removed too; such
// a build's entry holds only what its folder names say. Each folder is
// first renamed to a dot-name, which List skips, so that a launch never
// sees a build half removed. Nothing matching is an error that lists what
// is installed of that name.
//
// A job already running in a removed build goes on (its process has the
// binary open); a queued job that wants it fails to start, saying that the
// runtime is no longer installed.
func (c *Catalog) Remove(name, version, goos, goarch string) ([]*Entry, error) {
	for _, p := range []struct{ what, v string }{{"name", name}, {"version", version}} {
		if p.v == "" || strings.ContainsAny(p.v, `/\`) || p.v[0] == '.' {
			return nil, fmt.Errorf("cannot remove: %q is not a plugin %s", p.v, p.what)
		}
	}
	vdir := filepath.Join(c.root, name, version)
	platforms, err := c.subdirs(vdir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot read the runtime catalog folder %s: %w; check its permissions", vdir, err)
	}
	type match struct {
		dir string
		e   *Entry
	}
	var matched []match
	for _, platform := range platforms {
		pos, parch, ok := strings.Cut(platform, "_")
		if !ok || goos != "" && pos != goos || goarch != "" && parch != goarch {
			continue
		}
		dir := filepath.Join(vdir, platform)
		e, err := readEntry(dir, name, version, platform)
		if err != nil || e == nil {
			// Damaged, or an interrupted install: removable all the same.
			e = &Entry{Dir: dir}
			e.Name, e.Version, e.OS, e.Arch = name, version, pos, parch
			e.SemVer, _ = semver.NewVersion(version)
		}
		matched = append(matched, match{dir, e})
	}
	if len(matched) == 0 {
		return nil, c.nothingToRemove(name, version, goos, goarch)
	}
	sort.SliceStable(matched, func(i, j int) bool {
		a, b := matched[i].e, matched[j].e
		if a.OS != b.OS {
			return a.OS < b.OS
		}
		if ra, rb := archRank(a.Arch), archRank(b.Arch); ra != rb {
			return ra < rb
		}
		return a.Arch < b.Arch
	})
	var removed []*Entry
	for _, m := range matched {
		if err := removeDir(m.dir); err != nil {
			return removed, fmt.Errorf("cannot remove %s from %s: %w; check that the runtime catalog is writable", m.e, m.dir, err)
		}
		if m.e.Path != "" {
			c.forget(m.e.Path)
		}
		removed = append(removed, m.e)
	}
	// Folders left empty go too; ones holding anything else stay.
	_ = os.Remove(vdir)
	_ = os.Remove(filepath.Join(c.root, name))
	return removed, nil
}

// removeDir renames dir to a dot-name beside it, which List skips, then
// removes it and what it holds.
func removeDir(dir string) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	aside := filepath.Join(filepath.Dir(dir), ".remove-"+filepath.Base(dir)+"-"+hex.EncodeToString(b[:]))
	if err := os.Rename(dir, aside); err != nil {
		return err
	}
	return os.RemoveAll(aside)
}

// nothingToRemove says that no build of name matched, and what is
// installed of that name (or which names are installed).
func (c *Catalog) nothingToRemove(name, version, goos, goarch string) error {
	want := name + " " + version
	if goos != "" || goarch != "" {
		want += fmt.Sprintf(" for %s/%s", orAny(goos), orAny(goarch))
	}
	installed := c.installedOf(name)
	if len(installed) > 0 {
		return fmt.Errorf("%w %s is installed in %s; installed of %s: %s", ErrNoRuntime, want, c.root, name, strings.Join(installed, ", "))
	}
	names, _ := c.subdirs(c.root)
	if len(names) == 0 {
		return fmt.Errorf("%w %s is installed: the runtime catalog %s is empty", ErrNoRuntime, want, c.root)
	}
	sort.Strings(names)
	return fmt.Errorf("%w named %s is installed in %s; installed: %s", ErrNoRuntime, name, c.root, strings.Join(names, ", "))
}

func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// installedOf lists name's versions with their platforms, newest first:
// "2.0.0 (linux/amd64, linux/386)". Folders are listed as they are, so
// that a damaged build shows too.
func (c *Catalog) installedOf(name string) []string {
	versions, _ := c.subdirs(filepath.Join(c.root, name))
	sort.SliceStable(versions, func(i, j int) bool {
		a, errA := semver.NewVersion(versions[i])
		b, errB := semver.NewVersion(versions[j])
		if errA != nil || errB != nil {
			return versions[i] > versions[j]
		}
		return a.GreaterThan(b)
	})
	var out []string
	for _, v := range versions {
		platforms, _ := c.subdirs(filepath.Join(c.root, name, v))
		if len(platforms) == 0 {
			continue
		}
		sort.SliceStable(platforms, func(i, j int) bool {
			oa, a, _ := strings.Cut(platforms[i], "_")
			ob, b, _ := strings.Cut(platforms[j], "_")
			if oa != ob {
				return oa < ob
			}
			if ra, rb := archRank(a), archRank(b); ra != rb {
				return ra < rb
			}
			return a < b
		})
		for i, p := range platforms {
			platforms[i] = strings.Replace(p, "_", "/", 1)
		}
		out = append(out, fmt.Sprintf("%s (%s)", v, strings.Join(platforms, ", ")))
	}
	return out
}
