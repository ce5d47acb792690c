package admit

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/fakert"
)

// A runtime's failures have one kind whichever path met them: resolving for
// a start (resolve) or again for a restart (Resolve). A binary that is
// changed or gone failed verification, in both.
func TestResolveKinds(t *testing.T) {
	root := fakert.Catalog(t)
	a := New(Config{Catalog: catalog.Open(root)})
	bins, _ := filepath.Glob(filepath.Join(root, "shell", "*", "*", "bgjob-shell"))
	if len(bins) != 1 {
		t.Fatalf("runtime binaries %v", bins)
	}
	resolvers := map[string]func(constraint string) error{
		"start": func(c string) error { _, _, err := a.resolve("shell", c, false); return err },
		"restart": func(c string) error {
			_, err := a.Resolve("shell", c, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
	check := func(what string, want error) {
		t.Helper()
		for name, resolve := range resolvers {
			constraint := ""
			switch want {
			case errkind.ErrBadRequest:
				constraint = ">>1"
			case catalog.ErrNoRuntime:
				constraint = ">=99"
			}
			err := resolve(constraint)
			var e *errkind.Error
			if !errors.As(err, &e) || e.Kind != want {
				t.Errorf("%s, %s: %v, want kind %v", what, name, err, want)
			}
		}
	}
	check("bad constraint", errkind.ErrBadRequest)
	check("no match", catalog.ErrNoRuntime)
	if err := os.WriteFile(bins[0], []byte("changed"), 0o755); err != nil {
		t.Fatal(err)
	}
	check("changed binary", errkind.ErrVerification)
	if err := os.Remove(bins[0]); err != nil {
		t.Fatal(err)
	}
	check("missing binary", errkind.ErrVerification)
}

// --run-as-32 runs the newest 32-bit build that matches, and says so when
// the 64-bit build would have been another version; when both lines have
// the same newest version, nothing is said.
func TestRunAs32Notice(t *testing.T) {
	a32, ok := catalog.Arch32(runtime.GOOS, runtime.GOARCH)
	if !ok {
		t.Skip("no 32-bit sibling of " + runtime.GOOS + "/" + runtime.GOARCH)
	}
	root := fakert.Catalog(t,
		fakert.Entry{Name: "shell", Version: "1.5.0"},
		fakert.Entry{Name: "shell", Version: "1.5.0", Arch: a32},
		fakert.Entry{Name: "shell", Version: "1.6.0"},
		fakert.Entry{Name: "shell", Version: "2.1.0"},
		fakert.Entry{Name: "shell", Version: "2.1.0", Arch: a32},
		fakert.Entry{Name: "shell", Version: "2.2.0", Arch: a32},
	)
	a := New(Config{Catalog: catalog.Open(root)})
	for _, tt := range []struct {
		constraint string
		want       string // the version run
		notice     string // "" for none; else what it says
	}{
		{"~2.1.0", "2.1.0", ""},
		{"", "2.2.0", "--run-as-32: shell 2.2.0 runs, the newest stable version built for " + a32 +
			"; the newest stable version built for " + runtime.GOARCH + " is 2.1.0."},
		{"~1", "1.5.0", "--run-as-32: shell 1.5.0 runs, the newest version matching ~1 built for " + a32 +
			"; the newest version matching ~1 built for " + runtime.GOARCH + " is 1.6.0. Install shell 1.6.0 for both, or pin one version with --runtime-version"},
		{"=1.5.0", "1.5.0", ""},
		// The 32-bit line may be the newer one.
		{">=2.1", "2.2.0", "--run-as-32: shell 2.2.0 runs, the newest version matching >=2.1 built for " + a32 +
			"; the newest version matching >=2.1 built for " + runtime.GOARCH + " is 2.1.0. Install shell 2.2.0 for both"},
	} {
		p, err := a.PlanScript(&api.StartRequest{Script: "echo", Workdir: t.TempDir(), RuntimeVersion: tt.constraint, RunAs32: true}, nil)
		if err != nil {
			t.Errorf("%q: %v", tt.constraint, err)
			continue
		}
		if p.Entry.Version != tt.want || p.Entry.Arch != a32 {
			t.Errorf("%q: runs %s, want %s %s", tt.constraint, p.Entry, tt.want, a32)
		}
		switch {
		case tt.notice == "" && len(p.Notices) > 0:
			t.Errorf("%q: notices %q, want none", tt.constraint, p.Notices)
		case tt.notice != "" && (len(p.Notices) != 1 || !strings.HasPrefix(p.Notices[0], tt.notice)):
			t.Errorf("%q: notices %q, want one starting %q", tt.constraint, p.Notices, tt.notice)
		}
		// Without --run-as-32 there is nothing to say.
		if p, err := a.PlanScript(&api.StartRequest{Script: "echo", Workdir: t.TempDir(), RuntimeVersion: tt.constraint}, nil); err != nil {
			t.Errorf("%q without --run-as-32: %v", tt.constraint, err)
		} else if len(p.Notices) > 0 {
			t.Errorf("%q without --run-as-32: notices %q, want none", tt.constraint, p.Notices)
		}
	}
}
