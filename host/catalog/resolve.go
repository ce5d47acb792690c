package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/bgjob/bgjob/sdk"
)

// Resolve picks the installed entry to run for a runtime name, a version
// constraint and a platform: the newest version that satisfies the
// constraint among the entries built for goos/goarch (empty means the
// current platform).
//
// An empty constraint means the newest stable version: prereleases are only
// chosen when the constraint itself names one (for example ">=3.0.0-0" or
// "3.0.0-beta.1"), which is semver/v3's rule, so that installing a beta never
// silently changes what existing jobs run.
//
// A constraint semver cannot parse wraps ErrBadConstraint; no suitable entry
// wraps ErrNoRuntime, with a message listing what is installed so the user
// can fix either the constraint or the install.
func (c *Catalog) Resolve(name, constraint, goos, goarch string) (*Entry, error) {
	e, _, err := c.resolve(name, constraint, goos, goarch, false)
	return e, err
}

// ResolveOpen is Resolve, then OpenVerified of the entry found, as a start
// does: the folders Resolve has just found safe are not walked again
// (what it found holds until root or the host's user changes them, as no
// one else can). An error of the open, the entry's binary failing
// verification, is an *OpenError.
func (c *Catalog) ResolveOpen(name, constraint, goos, goarch string) (*Entry, *os.File, error) {
	e, checked, err := c.resolve(name, constraint, goos, goarch, false)
	if err != nil {
		return nil, nil, err
	}
	f, err := c.openVerified(e, checked)
	if err != nil {
		return nil, nil, &OpenError{Err: err}
	}
	return e, f, nil
}

// OpenError is an error from verifying an entry's binary (ResolveOpen's,
// and OpenVerified's as admission wraps it): whatever the cause, the
// binary failed verification.
type OpenError struct{ Err error }

func (e *OpenError) Error() string { return e.Err.Error() }
func (e *OpenError) Unwrap() error { return e.Err }

// resolve is Resolve among the runtimes, or among every plugin with
// anyKind (a job type's plugin is picked by name too); checked says the
// entry's binary and every folder above it were found safe on the way.
func (c *Catalog) resolve(name, constraint, goos, goarch string, anyKind bool) (_ *Entry, checked bool, _ error) {
	if goos == "" {
		goos = runtime.GOOS
	}
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	constraint = strings.TrimSpace(constraint)
	var cons *semver.Constraints
	if constraint != "" {
		var err error
		cons, err = semver.NewConstraint(constraint)
		if err != nil {
			return nil, false, fmt.Errorf("%w %q: %w; use a semver constraint such as '~1.4', '>=2.0, <3' or '2.1.0'", ErrBadConstraint, constraint, err)
		}
	}

	// Only the named runtime's folder is read: a start pays for the
	// runtime it runs, not for every one installed. The others are listed
	// only to say what is installed when nothing matches.
	names, err := c.names()
	if err != nil {
		return nil, false, err
	}
	var entries []*Entry
	if slices.Contains(names, name) {
		if e, found, checked, err := c.resolveIn(name, cons, goos+"_"+goarch, anyKind); found {
			return e, checked, err
		}
		if entries, err = c.listName(name); err != nil {
			return nil, false, err
		}
		sortEntries(entries)
	}
	if !slices.ContainsFunc(entries, func(e *Entry) bool { return anyKind || e.Kind != sdk.KindJobType }) {
		if entries, err = c.List(); err != nil {
			return nil, false, err
		}
	}
	var named []*Entry
	var others []string
	for _, e := range entries {
		switch {
		case e.Kind == sdk.KindJobType && !anyKind:
			// Serves job types only: no runtime to run a script in.
		case e.Name == name:
			named = append(named, e)
		case len(others) == 0 || others[len(others)-1] != e.Name:
			others = append(others, e.Name) // entries are sorted by name
		}
	}
	if len(named) == 0 {
		also := ""
		if len(others) > 0 {
			also = fmt.Sprintf(" (installed: %s)", strings.Join(others, ", "))
		}
		return nil, false, fmt.Errorf("%w '%s' is installed in %s%s; install one with 'bgjob runtime install PATH'", ErrNoRuntime, name, c.root, also)
	}

	// named is sorted newest first, so the first match is the answer.
	for _, e := range named {
		if e.OS != goos || e.Arch != goarch {
			continue
		}
		if matches(cons, e.SemVer) {
			if e.Refused != nil {
				return nil, false, refused(e)
			}
			return e, false, nil
		}
	}

	wanted := "any stable version"
	if cons != nil {
		wanted = constraint
	}
	return nil, false, fmt.Errorf("%w '%s' matches %s for %s/%s; installed: %s", ErrNoRuntime, name, wanted, goos, goarch, installedSummary(named, goos))
}

// installedSummary lists the versions of one runtime, newest first, each
// with the platforms it is installed for, e.g. "2.1.0 (amd64, 386), 1.4.2
// (amd64)". Platforms of the requested OS show only their architecture;
// others show os/arch. Within a version, the requested OS comes first and
// architectures go from the most common to the least (see archRank), which
// reads better than alphabetical order ("386" would sort first).
func installedSummary(named []*Entry, goos string) string {
	type version struct {
		label     string
		v         *semver.Version
		platforms []*Entry
	}
	var versions []*version
	byLabel := map[string]*version{}
	for _, e := range named {
		ver := byLabel[e.Version]
		if ver == nil {
			ver = &version{label: e.Version, v: e.SemVer}
			byLabel[e.Version] = ver
			versions = append(versions, ver) // named is already newest first
		}
		ver.platforms = append(ver.platforms, e)
	}
	parts := make([]string, 0, len(versions))
	for _, ver := range versions {
		ps := ver.platforms
		sort.SliceStable(ps, func(i, j int) bool {
			a, b := ps[i], ps[j]
			if (a.OS == goos) != (b.OS == goos) {
				return a.OS == goos
			}
			if a.OS != b.OS {
				return a.OS < b.OS
			}
			if ra, rb := archRank(a.Arch), archRank(b.Arch); ra != rb {
				return ra < rb
			}
			return a.Arch < b.Arch
		})
		labels := make([]string, len(ps))
		for i, e := range ps {
			labels[i] = e.Arch
			if e.OS != goos {
				labels[i] = e.OS + "/" + e.Arch
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", ver.label, strings.Join(labels, ", ")))
	}
	return strings.Join(parts, ", ")
}

// archRank orders architectures by how commonly they are used, so the
// likeliest candidates are named first; the rest follow alphabetically.
func archRank(arch string) int {
	switch arch {
	case "amd64":
		return 0
	case "arm64":
		return 1
	case "386":
		return 2
	case "arm":
		return 3
	}
	return 4
}

// ErrNoType reports a job type no installed plugin serves.
var ErrNoType = errors.New("no job type")

// ResolveType picks the plugin that serves job type typ for a platform: the
// newest version of the one plugin (by name) that claims the type that
// satisfies constraint, as Resolve picks a runtime (empty: the newest
// stable version). Unknown types wrap ErrNoType with the installed types
// listed; a version picked that does not serve the type wraps it too.
func (c *Catalog) ResolveType(typ, constraint, goos, goarch string) (*Entry, sdk.TypeInfo, error) {
	entries, err := c.List()
	if err != nil {
		return nil, sdk.TypeInfo{}, err
	}
	for _, e := range entries {
		if info, ok := e.JobType(typ); ok {
			re, _, err := c.resolve(e.Name, constraint, goos, goarch, true)
			if err != nil {
				return nil, info, fmt.Errorf("the job type %s is served by %s, but: %w", typ, e.Name, err)
			}
			// The version picked may have dropped the type.
			if info, ok := re.JobType(typ); ok {
				return re, info, nil
			}
			picked := "the newest " + re.Name
			if cons := strings.TrimSpace(constraint); cons != "" {
				picked = fmt.Sprintf("the newest %s matching %s", re.Name, cons)
			}
			return nil, info, fmt.Errorf("%w %s in %s %s, %s; install a version that serves it", ErrNoType, typ, re.Name, re.Version, picked)
		}
	}
	installed := []string{sdk.BackgroundJob + " (plain scripts)"}
	installed = append(installed, c.typeNames(entries)...)
	return nil, sdk.TypeInfo{}, fmt.Errorf("%w %q is installed; the job types here: %s. Install the plugin that serves it with 'bgjob runtime install PATH'", ErrNoType, typ, strings.Join(installed, ", "))
}

// Types lists the custom job types the catalog's plugins serve, sorted.
func (c *Catalog) Types() ([]string, error) {
	entries, err := c.List()
	if err != nil {
		return nil, err
	}
	return c.typeNames(entries), nil
}

func (c *Catalog) typeNames(entries []*Entry) []string {
	var names []string
	for _, e := range entries {
		for _, t := range e.JobTypes {
			if !slices.Contains(names, t.Name) {
				names = append(names, t.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// checkTypesFree refuses a plugin that claims a job type another plugin
// (by name) already serves: a type name must say which plugin runs it.
// Other versions and builds of the same plugin may claim it again.
func (c *Catalog) checkTypesFree(m *Manifest) error {
	if len(m.JobTypes) == 0 {
		return nil
	}
	entries, err := c.List()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name == m.Name {
			continue
		}
		for _, t := range m.JobTypes {
			if _, ok := e.JobType(t.Name); ok {
				return fmt.Errorf("the job type %s is already served by the plugin %s (%s); a type belongs to one plugin: remove %s from the catalog (%s) or rename the type", t.Name, e.Name, e.Path, e.Name, filepath.Dir(filepath.Dir(e.Dir)))
			}
		}
	}
	return nil
}

// matches reports whether version v answers cons; without one, any stable
// version does.
func matches(cons *semver.Constraints, v *semver.Version) bool {
	if cons == nil {
		return v.Prerelease() == ""
	}
	return cons.Check(v)
}

// refused is the error for e, the version a start picked, which cannot
// be used: a refused entry is not passed over for an older one, as the
// user expects this version, and hears why it cannot run.
func refused(e *Entry) error { return fmt.Errorf("%s cannot be used: %w", e, e.Refused) }

// resolveIn is resolve's answer read from the named runtime's folder
// alone, its versions newest first and in each only the platform asked
// for, until one matches: a start checks the folders and files of the
// entry it runs, not of every version and platform installed (each a few
// stats, on every start). found is false when it has no answer (nothing
// matches, a folder is not named as a version or cannot be read): resolve
// then lists the whole folder, for the answer and for the message. checked
// says the entry's binary was there and found safe, with every folder up
// to /, which the ResolveOpen that follows need not walk again.
//
// Unlike the whole listing it does not fail on a damaged manifest of
// another version or platform than the one it runs.
func (c *Catalog) resolveIn(name string, cons *semver.Constraints, platform string, anyKind bool) (e *Entry, found, checked bool, err error) {
	dir := filepath.Join(c.root, name)
	nameErr, ok := c.checkBelow(dir, nil)
	if !ok {
		return nil, false, false, nil
	}
	folders, err := c.subdirs(dir)
	if err != nil {
		return nil, false, false, nil
	}
	type version struct {
		folder string
		v      *semver.Version
	}
	versions := make([]version, 0, len(folders))
	for _, f := range folders {
		v, err := semver.NewVersion(f)
		if err != nil {
			return nil, false, false, nil
		}
		versions = append(versions, version{f, v})
	}
	// As sortEntries orders them.
	slices.SortFunc(versions, func(a, b version) int {
		if c := b.v.Compare(a.v); c != 0 {
			return c
		}
		return strings.Compare(a.folder, b.folder)
	})
	for _, ver := range versions {
		if !matches(cons, ver.v) {
			continue
		}
		vdir := filepath.Join(dir, ver.folder)
		versionErr, ok := c.checkBelow(vdir, nameErr)
		if !ok {
			continue
		}
		platforms, err := c.subdirs(vdir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, false, false, nil // the whole listing says what is wrong
		}
		if !slices.Contains(platforms, platform) {
			continue
		}
		e, checked, err := c.checkedEntry(filepath.Join(vdir, platform), name, ver.folder, platform, versionErr)
		switch {
		case err != nil:
			return nil, true, false, err
		case e == nil || e.Kind == sdk.KindJobType && !anyKind:
			continue
		case e.Refused != nil:
			return nil, true, false, refused(e)
		}
		return e, true, checked, nil
	}
	return nil, false, false, nil
}
