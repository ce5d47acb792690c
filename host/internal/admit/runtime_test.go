package admit

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

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
		"start": func(c string) error { _, err := a.resolve("shell", c, false); return err },
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
