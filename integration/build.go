// Package integration holds bgjob's black-box tests: they build the real
// binaries (the CLI, the host daemon and several versions of the shell
// runtime plugin), install the runtimes into a catalog and drive the CLI as a
// user would.
//
// This file is not a _test file so that benchmark packages can build the same
// binaries with Build.
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ShellVersions are the versions of the shell runtime plugin Build makes,
// each one the same source linked with -X main.version=V. 2.1.0 is the
// newest stable one, so it is what a job runs without --runtime-version;
// 3.0.0-beta.1 is a prerelease, chosen only when a constraint names one.
var ShellVersions = []string{"2.0.0", "2.0.1", "2.1.0", "3.0.0-beta.1"}

// DefaultShellVersion is the version the plain shell plugin build
// (Binaries.Shell) says it is, as `make build` does.
const DefaultShellVersion = "2.0.0"

// Binaries are the built programs.
type Binaries struct {
	// Dir is the directory Build wrote into.
	Dir string
	// BinDir holds bgjob and bgjobd side by side (the CLI finds the host
	// daemon beside itself); put it first on PATH.
	BinDir string
	// Bgjob and Bgjobd are the CLI and the host daemon.
	Bgjob, Bgjobd string
	// Shell is the shell runtime plugin built as DefaultShellVersion.
	Shell string
	// Plugins maps each of ShellVersions to its shell plugin binary,
	// dir/plugins/V/bgjob-shell.
	Plugins map[string]string
}

// ModuleRoot returns the root of the bgjob module, found with `go env GOMOD`
// from the current directory.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the bgjob module")
	}
	return filepath.Dir(gomod), nil
}

// Build builds bgjob, bgjobd and the shell runtime plugin in every one of
// ShellVersions into dir. The CLI and the daemon are built by one go command
// (which compiles their packages in parallel); the plugins share one
// compilation and differ only in what the linker writes into main.version,
// so they are linked in parallel after a first build has filled the cache.
func Build(dir string) (*Binaries, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b := &Binaries{
		Dir:     dir,
		BinDir:  filepath.Join(dir, "bin"),
		Plugins: map[string]string{},
	}
	b.Bgjob = filepath.Join(b.BinDir, "bgjob")
	b.Bgjobd = filepath.Join(b.BinDir, "bgjobd")
	for _, v := range ShellVersions {
		b.Plugins[v] = filepath.Join(dir, "plugins", v, "bgjob-shell")
	}
	b.Shell = b.Plugins[DefaultShellVersion]

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	goBuild := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		// Static, as `make build` makes them.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	plugin := func(v string) error {
		return goBuild("-ldflags", "-X main.version="+v, "-o", b.Plugins[v], "./cmd/bgjob-shell")
	}

	if err := os.MkdirAll(b.BinDir, 0o755); err != nil {
		return nil, err
	}
	// The CLI and daemon in one go command, while the first plugin compiles
	// the runtime's packages (the heaviest part: gRPC, go-plugin, mvdan/sh).
	var wg sync.WaitGroup
	errs := make([]error, len(ShellVersions)+1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = goBuild("-o", b.BinDir+string(filepath.Separator), "./cmd/bgjob", "./cmd/bgjobd")
	}()
	go func() {
		defer wg.Done()
		errs[1] = plugin(ShellVersions[0])
	}()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The other plugins only link now.
	for i, v := range ShellVersions[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+2] = plugin(v)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, p := range append([]string{b.Bgjob, b.Bgjobd}, pluginPaths(b)...) {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("build did not produce %s: %w", p, err)
		}
	}
	return b, nil
}

func pluginPaths(b *Binaries) []string {
	var ps []string
	for _, v := range ShellVersions {
		ps = append(ps, b.Plugins[v])
	}
	return ps
}

// InstallRuntimes installs the shell plugins of the given versions (all of
// ShellVersions if none are given) into the catalog at catalogDir, with
// `bgjob runtime install` and BGJOB_RUNTIMES=catalogDir.
func (b *Binaries) InstallRuntimes(catalogDir string, versions ...string) error {
	if len(versions) == 0 {
		versions = ShellVersions
	}
	args := []string{"runtime", "install"}
	for _, v := range versions {
		p, ok := b.Plugins[v]
		if !ok {
			return fmt.Errorf("no shell plugin was built as version %q (built: %s)", v, strings.Join(ShellVersions, ", "))
		}
		args = append(args, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.Bgjob, args...)
	cmd.Env = append(os.Environ(), "BGJOB_RUNTIMES="+catalogDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("bgjob %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
