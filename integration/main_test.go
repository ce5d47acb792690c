package integration

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Shared by every test: the binaries, built once, and a catalog holding all
// of ShellVersions.
var (
	bins       *Binaries
	catalogDir string
	// scriptRoot holds the testscript work directories; it is removed with
	// everything else at the end (testscript itself leaves its parent
	// directory behind when only some scripts run).
	scriptRoot string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// A job state change the table does not list panics the host.
	os.Setenv("BGJOB_STRICT_STATES", "1")
	flag.Parse()
	tmp, err := os.MkdirTemp("", "bgjob-it")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	bins, err = Build(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: build:", err)
		return 1
	}
	catalogDir = filepath.Join(tmp, "catalog")
	if err := bins.InstallRuntimes(catalogDir); err != nil {
		fmt.Fprintln(os.Stderr, "integration: install runtimes:", err)
		return 1
	}
	if err := bins.InstallTypes(catalogDir); err != nil {
		fmt.Fprintln(os.Stderr, "integration: install job types:", err)
		return 1
	}
	scriptRoot = filepath.Join(tmp, "w")
	if err := os.Mkdir(scriptRoot, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "integration: built and installed in %v into %s\n", time.Since(start).Round(time.Millisecond), tmp)
	}
	return m.Run()
}
