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
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/catalog"
)

// ShellVersions are the versions of the shell runtime plugin Build makes,
// each one the same source linked with -X main.version=V. 2.1.0 is the
// newest stable one, so it is what a job runs without --runtime-version;
// 3.0.0-beta.1 is a prerelease, chosen only when a constraint names one;
// 1.5.0 is the legacy line (POSIX dialect, four streams, protocol 1).
var ShellVersions = []string{"1.5.0", "2.0.0", "2.0.1", "2.1.0", "3.0.0-beta.1"}

// Shell32Versions are also built for the 32-bit sibling of this machine's
// architecture (catalog.Arch32), for --run-as-32: one of each line.
var Shell32Versions = []string{"1.5.0", "2.1.0"}

// LegacyVersion is the legacy line's build; NewestVersion the default.
const (
	LegacyVersion = "1.5.0"
	NewestVersion = "2.1.0"
)

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
	// Plugins maps each build to its binary: a version of ShellVersions
	// for this machine's architecture, "V/ARCH" for a 32-bit build.
	Plugins map[string]string
	// Arch32 is the 32-bit architecture the 32-bit builds are for; empty
	// where there is none.
	Arch32 string
	// Types maps each job type plugin (TypePlugins) to its binary.
	Types map[string]string
	// CopyNext is the Copy plugin built as CopyNextVersion, not
	// installed: a second version of a type plugin, for a scenario that
	// pins one.
	CopyNext string
}

// CopyNextVersion is the version of Binaries.CopyNext; the installed Copy
// plugin is 1.0.0.
const CopyNextVersion = "1.1.0"

// TypePlugins are the job type plugins Build makes: cmd/bgjob-NAME, serving
// Copy and ScheduledJob.
var TypePlugins = []string{"copy", "scheduled"}

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
	if a, ok := catalog.Arch32(runtime.GOOS, runtime.GOARCH); ok {
		b.Arch32 = a
		for _, v := range Shell32Versions {
			b.Plugins[v+"/"+a] = filepath.Join(dir, "plugins", v+"_"+a, "bgjob-shell")
		}
	}
	b.Shell = b.Plugins[DefaultShellVersion]
	typeDir := filepath.Join(dir, "types")
	b.Types = map[string]string{}
	var typePkgs []string
	for _, p := range TypePlugins {
		b.Types[p] = filepath.Join(typeDir, "bgjob-"+p)
		typePkgs = append(typePkgs, "./cmd/bgjob-"+p)
	}
	b.CopyNext = filepath.Join(typeDir, CopyNextVersion, "bgjob-copy")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	goBuild := func(arch string, args ...string) error {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		// Static, as `make build` makes them.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if arch != "" {
			cmd.Env = append(cmd.Env, "GOARCH="+arch)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	plugin := func(key string) error {
		v, arch, _ := strings.Cut(key, "/")
		return goBuild(arch, "-ldflags", "-X main.version="+v, "-o", b.Plugins[key], "./cmd/bgjob-shell")
	}

	if err := os.MkdirAll(b.BinDir, 0o755); err != nil {
		return nil, err
	}
	// The CLI and daemon in one go command, while the first plugin compiles
	// the runtime's packages (the heaviest part: gRPC, go-plugin, mvdan/sh).
	// The first build of each architecture compiles; the rest only link.
	keys := pluginKeys(b)
	firsts := []string{ShellVersions[0]}
	if b.Arch32 != "" {
		firsts = append(firsts, Shell32Versions[0]+"/"+b.Arch32)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(keys)+2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = goBuild("", "-o", b.BinDir+string(filepath.Separator), "./cmd/bgjob", "./cmd/bgjobd")
	}()
	go func() {
		defer wg.Done()
		errs[len(keys)+1] = goBuild("", append([]string{"-o", typeDir + string(filepath.Separator)}, typePkgs...)...)
	}()
	for i, k := range firsts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = plugin(k)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, k := range keys {
		if slices.Contains(firsts, k) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = plugin(k)
		}()
	}
	// The type plugins' packages are compiled by now: this one links.
	var copyErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyErr = goBuild("", "-ldflags", "-X main.version="+CopyNextVersion, "-o", b.CopyNext, "./cmd/bgjob-copy")
	}()
	wg.Wait()
	if err := errors.Join(append(errs, copyErr)...); err != nil {
		return nil, err
	}
	for _, p := range append([]string{b.Bgjob, b.Bgjobd, b.Types["copy"], b.Types["scheduled"], b.CopyNext}, pluginPaths(b)...) {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("build did not produce %s: %w", p, err)
		}
	}
	return b, nil
}

// pluginKeys are the keys of every build in b.Plugins, in a fixed order.
func pluginKeys(b *Binaries) []string {
	keys := slices.Clone(ShellVersions)
	if b.Arch32 != "" {
		for _, v := range Shell32Versions {
			keys = append(keys, v+"/"+b.Arch32)
		}
	}
	return keys
}

func pluginPaths(b *Binaries) []string {
	var ps []string
	for _, k := range pluginKeys(b) {
		ps = append(ps, b.Plugins[k])
	}
	return ps
}

// InstallTypes installs the job type plugins into the catalog at
// catalogDir.
func (b *Binaries) InstallTypes(catalogDir string) error {
	var paths []string
	for _, p := range TypePlugins {
		paths = append(paths, b.Types[p])
	}
	return b.install(catalogDir, paths)
}

// InstallRuntimes installs the shell plugins of the given builds (keys of
// Plugins; all of them if none are given) into the catalog at catalogDir,
// with `bgjob runtime install` and BGJOB_RUNTIMES=catalogDir.
func (b *Binaries) InstallRuntimes(catalogDir string, versions ...string) error {
	if len(versions) == 0 {
		versions = pluginKeys(b)
	}
	args := []string{"runtime", "install"}
	for _, v := range versions {
		p, ok := b.Plugins[v]
		if !ok {
			return fmt.Errorf("no shell plugin was built as version %q (built: %s)", v, strings.Join(ShellVersions, ", "))
		}
		args = append(args, p)
	}
	return b.install(catalogDir, args[2:])
}

// install runs `bgjob runtime install paths...` into catalogDir.
func (b *Binaries) install(catalogDir string, paths []string) error {
	args := append([]string{"runtime", "install"}, paths...)
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
