//go:build unix

package sdk

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A runtime started with a regular file as its standard input (the host
// passes the binary it runs there) reads nothing from it once serving:
// nullStdin gives it /dev/null. A pipe or a terminal is left alone.
func TestNullStdin(t *testing.T) {
	if os.Getenv("BGJOB_SDK_TEST_NULLSTDIN") != "" {
		nullStdin()
		b, _ := io.ReadAll(os.Stdin)
		os.Stdout.WriteString("read:" + string(b))
		os.Exit(0)
	}
	file := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(file, []byte("the binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run := func(stdin io.Reader) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestNullStdin$")
		cmd.Env = append(os.Environ(), "BGJOB_SDK_TEST_NULLSTDIN=1")
		cmd.Stdin = stdin
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
		return string(out)
	}
	if got := run(f); got != "read:" {
		t.Errorf("with a file as stdin the runtime read %q, want nothing", got)
	}
	if got := run(strings.NewReader("piped")); got != "read:piped" {
		t.Errorf("with a pipe as stdin the runtime read %q, want piped", got)
	}
}

// pipeClosed tells a pipe whose reader is gone from one still read, and
// from what is no pipe.
func TestPipeClosed(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if pipeClosed(int(w.Fd())) {
		t.Error("a pipe with its reader open counts as closed")
	}
	r.Close()
	if !pipeClosed(int(w.Fd())) {
		t.Error("a pipe whose reader is closed does not count as closed")
	}
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if pipeClosed(int(f.Fd())) {
		t.Error("a regular file counts as a closed pipe")
	}
}
