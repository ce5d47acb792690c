package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

// Environment variables that turn the test binary into a fake plugin when
// it is run as "<binary> describe" (the helper-process pattern): the test
// binary, copied into a temp folder, is the real executable that Install
// copies, describes and hashes.
const (
	envDescribe = "CATALOG_TEST_DESCRIBE" // JSON printed to stdout
	envExit     = "CATALOG_TEST_EXIT"     // exit with this status after printing to stderr
	envSleep    = "CATALOG_TEST_SLEEP"    // sleep this long first (a Go duration)
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "describe" {
		os.Exit(fakePlugin())
	}
	// Under -race a process sleeps 1s on exit by default; without this
	// every fake plugin run would take a second.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// fakePlugin answers "describe" as the environment says.
func fakePlugin() int {
	if d, err := time.ParseDuration(os.Getenv(envSleep)); err == nil {
		time.Sleep(d)
	}
	if s := os.Getenv(envExit); s != "" {
		code, _ := strconv.Atoi(s)
		fmt.Fprintln(os.Stderr, "fake plugin: told to fail")
		return code
	}
	d, ok := os.LookupEnv(envDescribe)
	if !ok {
		fmt.Fprintln(os.Stderr, "fake plugin: "+envDescribe+" is not set")
		return 2
	}
	fmt.Print(d)
	return 0
}

// describeAs makes the fake plugin print a describe answer for m.
func describeAs(t *testing.T, m sdk.Description) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envDescribe, string(data))
}

// shellAnswer is a typical describe answer.
func shellAnswer(version string) sdk.Description {
	return sdk.Description{
		Name:     "shell",
		Version:  version,
		OS:       "linux",
		Arch:     "amd64",
		Protocol: 2,
		JobTypes: []sdk.TypeInfo{{Name: "Shell"}, {Name: "Script", Runs: true}},
		Kind:     "runtime",
	}
}

// pluginCopy copies the test binary into a temp folder under name, so tests
// can install, alter or chmod it without touching the running binary.
func pluginCopy(t *testing.T, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	copyFile(t, self, dst, 0o755)
	return dst
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// plat is one platform of a hand-made entry.
type plat struct{ os, arch string }

// addEntry creates an installed entry by hand (a small binary file plus its
// manifest), for tests that exercise the catalog rather than Install.
func addEntry(t *testing.T, root, name, version string, p plat, types ...sdk.TypeInfo) string {
	t.Helper()
	dir := filepath.Join(root, name, version, p.os+"_"+p.arch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bgjob-runtime-"+name)
	content := []byte(fmt.Sprintf("#!/bin/sh\n# %s %s %s/%s\n", name, version, p.os, p.arch))
	if err := os.WriteFile(bin, content, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	m := Manifest{
		Description: sdk.Description{Name: name, Version: version, OS: p.os, Arch: p.arch,
			Protocol: 2, Kind: "runtime", JobTypes: types},
		Binary: filepath.Base(bin), SHA256: hex.EncodeToString(sum[:]),
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin
}

// noStaging fails if Install left staging files behind in dir.
func noStaging(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, de := range des {
		if n := de.Name(); len(n) > 0 && n[0] == '.' {
			t.Errorf("left-over staging file %s in %s", n, dir)
		}
	}
}
