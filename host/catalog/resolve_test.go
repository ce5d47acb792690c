package catalog

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

var (
	linuxAMD64  = plat{"linux", "amd64"}
	linux386    = plat{"linux", "386"}
	darwinARM64 = plat{"darwin", "arm64"}
)

func TestResolve(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "1.4.2", linuxAMD64)
	addEntry(t, root, "shell", "2.1.0", linuxAMD64)
	addEntry(t, root, "shell", "2.1.0", linux386)
	addEntry(t, root, "shell", "2.0.0", darwinARM64)
	addEntry(t, root, "shell", "3.0.0-beta.1", linuxAMD64)
	addEntry(t, root, "pwsh", "7.4.0", linuxAMD64)
	c := Open(root)

	tests := []struct {
		constraint string
		p          plat
		want       string // version; "" means ErrNoRuntime
	}{
		{"", linuxAMD64, "2.1.0"}, // newest stable, not the beta
		{"", linux386, "2.1.0"},
		{"", darwinARM64, "2.0.0"},
		{"~1.4", linuxAMD64, "1.4.2"},
		{"1.4.2", linuxAMD64, "1.4.2"},
		{"2.1.0", linux386, "2.1.0"},
		{">=2.0, <3", linuxAMD64, "2.1.0"},
		{"^2", linux386, "2.1.0"},
		{"1.x || 2.0.x", linuxAMD64, "1.4.2"},
		{">=2.0", linuxAMD64, "2.1.0"},            // a range without a prerelease skips the beta
		{">=3.0", linuxAMD64, ""},                 // ... even when the beta is the only candidate
		{">=3.0.0-0", linuxAMD64, "3.0.0-beta.1"}, // naming a prerelease opts in
		{"3.0.0-beta.1", linuxAMD64, "3.0.0-beta.1"},
		{"^3.0.0-beta", linuxAMD64, "3.0.0-beta.1"},
		{">=3.0.0-0", linux386, ""}, // the beta is amd64 only
		{"~1.4", linux386, ""},
		{"", plat{"windows", "amd64"}, ""},
	}
	for _, tt := range tests {
		name := tt.constraint + "@" + tt.p.os + "/" + tt.p.arch
		t.Run(name, func(t *testing.T) {
			e, err := c.Resolve("shell", tt.constraint, tt.p.os, tt.p.arch)
			if tt.want == "" {
				if !errors.Is(err, ErrNoRuntime) {
					t.Fatalf("Resolve = %v, %v; want an ErrNoRuntime error", e, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if e.Version != tt.want || e.OS != tt.p.os || e.Arch != tt.p.arch || e.Name != "shell" {
				t.Errorf("Resolve picked %v; want shell %s (%s/%s)", e, tt.want, tt.p.os, tt.p.arch)
			}
		})
	}
}

func TestResolveDefaultsToThisPlatform(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "1.0.0", plat{runtime.GOOS, runtime.GOARCH})
	e, err := Open(root).Resolve("shell", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if e.OS != runtime.GOOS || e.Arch != runtime.GOARCH {
		t.Errorf("Resolve with no platform picked %s/%s; want %s/%s", e.OS, e.Arch, runtime.GOOS, runtime.GOARCH)
	}
}

// TestSemverPrereleaseRule pins down the semver/v3 behaviour Resolve relies
// on: a constraint matches prereleases only when it names one itself.
func TestSemverPrereleaseRule(t *testing.T) {
	tests := []struct {
		constraint, version string
		want                bool
	}{
		{">=2.0", "3.0.0-beta.1", false},
		{"^3", "3.0.0-beta.1", false},
		{"~3.0", "3.0.0-beta.1", false},
		{"*", "3.0.0-beta.1", false},
		{">=3.0.0-0", "3.0.0-beta.1", true},
		{">=3.0.0-alpha", "3.0.0-beta.1", true},
		{"3.0.0-beta.1", "3.0.0-beta.1", true},
		{"^3.0.0-beta", "3.0.0-beta.1", true},
		{">=2.0", "3.0.0", true},
	}
	for _, tt := range tests {
		c, err := semver.NewConstraint(tt.constraint)
		if err != nil {
			t.Fatalf("NewConstraint(%q): %v", tt.constraint, err)
		}
		if got := c.Check(semver.MustParse(tt.version)); got != tt.want {
			t.Errorf("%q matches %s = %v; want %v", tt.constraint, tt.version, got, tt.want)
		}
	}
}

func TestResolveErrorWording(t *testing.T) {
	type installed struct {
		name, version string
		p             plat
	}
	tests := []struct {
		name       string
		installed  []installed
		constraint string
		p          plat
		want       string // ROOT stands for the catalog root
	}{
		{
			name: "no version matches",
			installed: []installed{
				{"shell", "1.4.2", linuxAMD64},
				{"shell", "2.1.0", linux386},
				{"shell", "2.1.0", linuxAMD64},
			},
			constraint: ">=3.0", p: linux386,
			want: "no runtime 'shell' matches >=3.0 for linux/386; installed: 2.1.0 (amd64, 386), 1.4.2 (amd64)",
		},
		{
			name:      "only a prerelease",
			installed: []installed{{"shell", "3.0.0-beta.1", linuxAMD64}},
			p:         linuxAMD64,
			want:      "no runtime 'shell' matches any stable version for linux/amd64; installed: 3.0.0-beta.1 (amd64)",
		},
		{
			name: "other platforms",
			installed: []installed{
				{"shell", "2.0.0", darwinARM64},
				{"shell", "2.0.0", plat{"linux", "arm64"}},
				{"shell", "10.0.0", plat{"linux", "riscv64"}},
			},
			constraint: "2.0.0", p: linuxAMD64,
			want: "no runtime 'shell' matches 2.0.0 for linux/amd64; installed: 10.0.0 (riscv64), 2.0.0 (arm64, darwin/arm64)",
		},
		{
			name:      "name not installed, others are",
			installed: []installed{{"pwsh", "7.4.0", linuxAMD64}, {"python", "3.12.0", linuxAMD64}, {"pwsh", "7.5.0", linuxAMD64}},
			p:         linuxAMD64,
			want:      "no runtime 'shell' is installed in ROOT (installed: pwsh, python); install one with 'bgjob runtime install PATH'",
		},
		{
			name: "empty catalog",
			p:    linuxAMD64,
			want: "no runtime 'shell' is installed in ROOT; install one with 'bgjob runtime install PATH'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "runtimes")
			for _, in := range tt.installed {
				addEntry(t, root, in.name, in.version, in.p)
			}
			_, err := Open(root).Resolve("shell", tt.constraint, tt.p.os, tt.p.arch)
			if !errors.Is(err, ErrNoRuntime) {
				t.Fatalf("error %v does not wrap ErrNoRuntime", err)
			}
			if want := strings.ReplaceAll(tt.want, "ROOT", root); err.Error() != want {
				t.Errorf("error =\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestResolveBadConstraint(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "2.1.0", linuxAMD64)
	for _, constraint := range []string{">>1", "latest", "1.2.3.4", ">=1 <<2"} {
		t.Run(constraint, func(t *testing.T) {
			_, semErr := semver.NewConstraint(constraint)
			if semErr == nil {
				t.Fatalf("semver accepts %q; pick another bad constraint", constraint)
			}
			e, err := Open(root).Resolve("shell", constraint, "linux", "amd64")
			if !errors.Is(err, ErrBadConstraint) {
				t.Fatalf("Resolve = %v, %v; want an ErrBadConstraint error", e, err)
			}
			want := `invalid runtime version constraint "` + constraint + `": ` + semErr.Error() +
				`; use a semver constraint such as '~1.4', '>=2.0, <3' or '2.1.0'`
			if err.Error() != want {
				t.Errorf("error =\n%s\nwant\n%s", err, want)
			}
		})
	}
}
