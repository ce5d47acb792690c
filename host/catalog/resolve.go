package catalog

import (
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
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
			return nil, fmt.Errorf("%w %q: %w; use a semver constraint such as '~1.4', '>=2.0, <3' or '2.1.0'", ErrBadConstraint, constraint, err)
		}
	}

	entries, err := c.List()
	if err != nil {
		return nil, err
	}
	var named []*Entry
	var others []string
	for _, e := range entries {
		switch {
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
		return nil, fmt.Errorf("%w '%s' is installed in %s%s; install one with 'bgjob runtime install PATH'", ErrNoRuntime, name, c.root, also)
	}

	// named is sorted newest first, so the first match is the answer.
	for _, e := range named {
		if e.OS != goos || e.Arch != goarch {
			continue
		}
		if cons == nil {
			if e.SemVer.Prerelease() == "" {
				return e, nil
			}
		} else if cons.Check(e.SemVer) {
			return e, nil
		}
	}

	wanted := "any stable version"
	if cons != nil {
		wanted = constraint
	}
	return nil, fmt.Errorf("%w '%s' matches %s for %s/%s; installed: %s", ErrNoRuntime, name, wanted, goos, goarch, installedSummary(named, goos))
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
