package main

import (
	"fmt"
	"slices"

	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// runCLI runs bgjob in this process with args and returns its exit code
// and what it printed. Only for commands that do not exec the host.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var outB, errB []byte
	wg.Add(2)
	go func() { defer wg.Done(); outB, _ = io.ReadAll(outR) }()
	go func() { defer wg.Done(); errB, _ = io.ReadAll(errR) }()
	saveOut, saveErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outW, errW
	defer func() { os.Stdout, os.Stderr = saveOut, saveErr }()
	code = run(args)
	os.Stdout, os.Stderr = saveOut, saveErr
	outW.Close()
	errW.Close()
	wg.Wait()
	outR.Close()
	errR.Close()
	return code, string(outB), string(errB)
}

// isolate points bgjob at a fresh home and catalog, with no system host.
func isolate(t *testing.T) (home, catalog string) {
	t.Helper()
	dir := shortTemp(t)
	home, catalog = filepath.Join(dir, "h"), filepath.Join(dir, "cat")
	t.Setenv("BGJOB_HOME", home)
	t.Setenv("BGJOB_RUNTIMES", catalog)
	t.Setenv("BGJOB_SOCKET", "")
	t.Setenv("BGJOB_DEFINITIONS", filepath.Join(dir, "defs"))
	return home, catalog
}

// shortTemp is a temporary directory with a short path: a socket in it
// must fit a unix socket address.
func shortTemp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// built builds bgjob (as version 9.8.7-test) and bgjobd once, side by
// side, and returns their directory.
func built(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "bgjob-cli-test")
		if buildErr != nil {
			return
		}
		for _, b := range [][]string{
			{"-ldflags", "-X main.version=9.8.7-test", "-o", filepath.Join(buildDir, "bgjob"), "."},
			{"-o", filepath.Join(buildDir, "bgjobd"), "../bgjobd"},
		} {
			out, err := exec.Command("go", append([]string{"build"}, b...)...).CombinedOutput()
			if err != nil {
				buildErr = &buildError{err, string(out)}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	// A job state change the table does not list panics the host.
	os.Setenv("BGJOB_STRICT_STATES", "1")
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	if code != 0 || out != "bgjob "+versionString()+"\n" {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	save := version
	version = "1.2.3"
	defer func() { version = save }()
	if code, out, _ := runCLI(t, "--version"); code != 0 || out != "bgjob 1.2.3\n" {
		t.Errorf("--version with version 1.2.3: exit %d, %q", code, out)
	}
	version = ""
	if v := versionString(); v == "" || v == "(devel)" {
		t.Errorf("versionString() without a version = %q", v)
	}
	// As the build sets it.
	bin := filepath.Join(built(t), "bgjob")
	b, err := exec.Command(bin, "--version").Output()
	if err != nil || string(b) != "bgjob 9.8.7-test\n" {
		t.Errorf("bgjob built with -X main.version=9.8.7-test --version: %q, %v", b, err)
	}
}

// The root's help lists the environment and the new commands.
func TestRootHelp(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"Environment:", "Exit codes:", "Examples:", "completion ", "host "} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, e := range []string{"BGJOB_HOME", "BGJOB_RUNTIMES", "BGJOB_DEFINITIONS", "BGJOB_SOCKET", "BGJOB_MAX_RUNNING", "BGJOB_HOSTD", "BGJOB_IDLE_EXIT", "NO_COLOR"} {
		if !strings.Contains(out, "\n  "+e+" ") {
			t.Errorf("--help's environment does not list %s", e)
		}
	}
	for _, line := range strings.Split(envHelp(), "\n") {
		if len(line) > 80 {
			t.Errorf("an environment line is wider than 80 columns: %q", line)
		}
	}
	if strings.Contains(out, "\n  man ") {
		t.Error("--help lists the hidden man command")
	}
}

// TestOneCommandTreeAsWhole: a call naming a subcommand builds that
// command alone (newRootFor); its help, flags and errors must be what the
// whole tree gives, and the table of commands must hold every command the
// whole tree has.
func TestOneCommandTreeAsWhole(t *testing.T) {
	whole := newRoot()
	var names []string
	for _, c := range whole.Commands() {
		if c.Name() != "help" {
			names = append(names, c.Name())
		}
	}
	var table []string
	for _, c := range commands {
		table = append(table, c.name)
	}
	sorted := slices.Sorted(slices.Values(table))
	if strings.Join(names, " ") != strings.Join(sorted, " ") {
		t.Fatalf("commands table %v, whole tree %v", table, names)
	}
	out := func(root *cobra.Command, args ...string) string {
		var b strings.Builder
		root.SetOut(&b)
		root.SetErr(&b)
		root.SetArgs(args)
		err := root.Execute()
		return fmt.Sprintf("%s\nerr: %v", b.String(), err)
	}
	for _, c := range commands {
		name := c.name
		for _, args := range [][]string{{name, "--help"}, {name, "--no-such-flag"}} {
			one := newRootFor(args)
			want := 1
			if c.whole {
				want = len(whole.Commands()) // it describes every command
			}
			if n := len(one.Commands()); n != want {
				t.Errorf("%v: the tree holds %d commands, want %d", args, n, want)
			}
			if got, want := out(one, args...), out(newRoot(), args...); got != want {
				t.Errorf("%v: one command's tree says\n%s\nthe whole tree\n%s", args, got, want)
			}
		}
	}
}

// TestHelpIntoQuittingReader: `bgjob start --help | grep -q X` succeeds
// even though grep quits at the line it wanted: help goes out in one write,
// so bgjob is not killed by SIGPIPE writing the rest (under pipefail that
// failed the check about four times in five).
func TestHelpIntoQuittingReader(t *testing.T) {
	bin := filepath.Join(built(t), "bgjob")
	sh := `set -o pipefail; i=0; while [ $i -lt 40 ]; do "$0" start --help | grep -q -- --runtime-version || exit 1; i=$((i+1)); done`
	if out, err := exec.Command("bash", "-c", sh, bin).CombinedOutput(); err != nil {
		t.Fatalf("bgjob start --help | grep -q failed: %v %s", err, out)
	}
}
