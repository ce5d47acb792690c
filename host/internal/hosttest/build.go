package hosttest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/catalog"
)

// Shell is the real shell runtime, built and installed into a catalog of
// its own.
type Shell struct {
	Binary  string // as built, outside the catalog
	Catalog string // the catalog root
	Entry   *catalog.Entry
}

// BuildShell builds cmd/bgjob-shell into dir and installs it into a catalog
// under dir. Call it from TestMain: it takes a while the first time.
func BuildShell(dir string) (*Shell, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || strings.HasSuffix(gomod, "null") {
		return nil, fmt.Errorf("not inside the bgjob module")
	}
	s := &Shell{Binary: filepath.Join(dir, "bin", "bgjob-shell"), Catalog: filepath.Join(dir, "catalog")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", s.Binary, "github.com/bgjob/bgjob/cmd/bgjob-shell")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build bgjob-shell: %w\n%s", err, out)
	}
	in, err := catalog.Open(s.Catalog).Install(ctx, s.Binary, catalog.InstallOptions{})
	if err != nil {
		return nil, fmt.Errorf("install the shell runtime: %w", err)
	}
	s.Entry = in.Entry
	return s, nil
}
