package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/sdk"
)

// install puts a runtime build into the catalog at root by hand.
func install(t *testing.T, root, name, version, goos, goarch string) {
	t.Helper()
	dir := filepath.Join(root, name, version, goos+"_"+goarch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := []byte("#!/bin/sh\n# " + name + " " + version + "\n")
	if err := os.WriteFile(filepath.Join(dir, "bgjob-"+name), content, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	m := catalog.Manifest{Description: sdk.Description{Name: name, Version: version, OS: goos, Arch: goarch, Protocol: 2, Kind: sdk.KindRuntime},
		Binary: "bgjob-" + name, SHA256: hex.EncodeToString(sum[:])}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func runRuntime(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runtimeCmd(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRuntimeListEmpty(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cat")
	t.Setenv("BGJOB_RUNTIMES", root)
	code, out, errs := runRuntime("list")
	if code != 0 || out != "" {
		t.Errorf("list on an empty catalog: exit %d, stdout %q", code, out)
	}
	if want := "no runtimes installed in " + root + "; install one with 'bgjob runtime install PATH'\n"; errs != want {
		t.Errorf("list on an empty catalog said %q, want %q", errs, want)
	}
	// JSON is for programs: an empty list, nothing else.
	code, out, errs = runRuntime("list", "-o", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" || errs != "" {
		t.Errorf("list -o json on an empty catalog: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestRuntimeRemove(t *testing.T) {
	root := t.TempDir()
	t.Setenv("BGJOB_RUNTIMES", root)
	install(t, root, "shell", "2.0.0", "linux", "amd64")
	install(t, root, "shell", "2.0.0", "linux", "386")
	install(t, root, "shell", "1.5.0", "linux", "amd64")
	install(t, root, "shell", "1.5.0", "linux", "386")

	tests := []struct {
		args     []string
		code     int
		out, err string // substrings; "" wants nothing
	}{
		{[]string{"remove"}, api.ExitUsage, "", "usage: bgjob runtime remove NAME VERSION [--arch ARCH]"},
		{[]string{"remove", "shell"}, api.ExitUsage, "", "usage: bgjob runtime remove"},
		{[]string{"list", "--arch", "386"}, api.ExitUsage, "", "--arch goes with runtime remove"},
		{[]string{"remove", "shell", "9.0.0"}, api.ExitRuntime, "", "no runtime shell 9.0.0 is installed in " + root + "; installed of shell: 2.0.0 (linux/amd64, linux/386), 1.5.0 (linux/amd64, linux/386)"},
		{[]string{"remove", "nosuch", "1.0.0"}, api.ExitRuntime, "", "no runtime named nosuch is installed in " + root + "; installed: shell"},
		// The flag after the arguments, and before them.
		{[]string{"remove", "shell", "2.0.0", "--arch", "386"}, 0, "removed runtime shell 2.0.0 (linux/386)\n", ""},
		{[]string{"remove", "--arch", "linux/386", "shell", "1.5.0"}, 0, "removed runtime shell 1.5.0 (linux/386)\n", ""},
		{[]string{"remove", "shell", "1.5.0", "--arch", "386"}, api.ExitRuntime, "", "no runtime shell 1.5.0 for */386 is installed"},
		{[]string{"remove", "shell", "2.0.0"}, 0, "removed runtime shell 2.0.0 (linux/amd64)\n", ""},
		{[]string{"remove", "shell", "1.5.0"}, 0, "removed runtime shell 1.5.0 (linux/amd64)\n", ""},
		{[]string{"list"}, 0, "", "no runtimes installed in " + root},
	}
	for _, tt := range tests {
		code, out, errs := runRuntime(tt.args...)
		if code != tt.code || (tt.out == "") != (out == "") || !strings.Contains(out, tt.out) ||
			(tt.err == "") != (errs == "") || !strings.Contains(errs, tt.err) {
			t.Errorf("runtime %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out, errs, tt.code, tt.out, tt.err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "shell")); !os.IsNotExist(err) {
		t.Errorf("the emptied folder shell is left behind (%v)", err)
	}
}

func TestRuntimeUsage(t *testing.T) {
	code, out, _ := runRuntime("--help")
	if code != 0 || !strings.Contains(out, "bgjob runtime remove NAME VERSION [--arch ARCH]") {
		t.Errorf("runtime --help: exit %d, %q", code, out)
	}
	code, _, errs := runRuntime("frobnicate")
	if code != api.ExitUsage || !strings.Contains(errs, `unknown runtime command "frobnicate"`) {
		t.Errorf("runtime frobnicate: exit %d, %q", code, errs)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  string
		arch string
	}{
		{nil, "", ""},
		{[]string{"a", "b"}, "a b", ""},
		{[]string{"a", "--arch", "x", "b"}, "a b", "x"},
		{[]string{"--arch=x", "a"}, "a", "x"},
		{[]string{"a", "--", "--arch", "x"}, "a --arch x", ""},
		{[]string{"--", "-o"}, "-o", ""},
	}
	for _, tt := range tests {
		fs := newFlagSet()
		arch := fs.String("arch", "", "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || strings.Join(pos, " ") != tt.pos || *arch != tt.arch {
			t.Errorf("parseInterspersed(%q) = %q, --arch %q, %v; want %q, --arch %q", tt.args, pos, *arch, err, tt.pos, tt.arch)
		}
	}
}
