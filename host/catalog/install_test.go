package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

func TestInstallListAndManifest(t *testing.T) {
	root := filepath.Join(t.TempDir(), "runtimes") // does not exist yet
	c := Open(root)
	if got, err := c.List(); err != nil || len(got) != 0 {
		t.Fatalf("List of a missing root = %v, %v; want empty, nil", got, err)
	}

	src := pluginCopy(t, "bgjob-runtime-shell")
	describeAs(t, shellAnswer("2.1.0"))
	e, err := c.Install(context.Background(), src, InstallOptions{})
	if err != nil {
		t.Fatalf("Install: %v", err)
	}

	wantDir := filepath.Join(root, "shell", "2.1.0", "linux_amd64")
	want := Manifest{
		Description: sdk.Description{Name: "shell", Version: "2.1.0", OS: "linux", Arch: "amd64",
			Protocol: 2, JobTypes: []sdk.TypeInfo{{Name: "Shell"}, {Name: "Script", Runs: true}}, Kind: "runtime"},
		Binary: "bgjob-runtime-shell", SHA256: fileSHA256(t, src),
	}
	if e.Dir != wantDir || e.Path != filepath.Join(wantDir, "bgjob-runtime-shell") {
		t.Errorf("Install put it at Dir=%s Path=%s; want Dir=%s", e.Dir, e.Path, wantDir)
	}
	if !reflect.DeepEqual(e.Manifest, want) {
		t.Errorf("entry manifest = %+v\nwant %+v", e.Manifest, want)
	}
	if e.SemVer == nil || e.SemVer.String() != "2.1.0" {
		t.Errorf("SemVer = %v; want 2.1.0", e.SemVer)
	}

	// manifest.json on disk says the same.
	data, err := os.ReadFile(filepath.Join(wantDir, manifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Manifest
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatalf("manifest.json does not parse: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(onDisk, want) {
		t.Errorf("manifest.json = %+v\nwant %+v", onDisk, want)
	}

	// The installed bytes are the source's bytes, hashed correctly.
	if got := fileSHA256(t, e.Path); got != want.SHA256 {
		t.Errorf("installed binary hashes to %s; want %s", got, want.SHA256)
	}
	fi, err := os.Stat(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o755 {
		t.Errorf("installed binary mode = %v; want 0755", fi.Mode().Perm())
	}
	noStaging(t, root)
	noStaging(t, wantDir)

	list, err := c.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0], e.Entry) {
		t.Fatalf("List = %v; want just %v", list, e)
	}
	if err := c.Verify(e.Entry); err != nil {
		t.Errorf("Verify right after Install: %v", err)
	}
	if e.Again || e.Replaced != "" {
		t.Errorf("a first install says Again %v, Replaced %q", e.Again, e.Replaced)
	}
}

func TestInstallKeepsOriginalVersionSpelling(t *testing.T) {
	c := Open(t.TempDir())
	describeAs(t, shellAnswer("v1.4"))
	e, err := c.Install(context.Background(), pluginCopy(t, "shell"), InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(filepath.Dir(e.Dir)) != "v1.4" || e.SemVer.String() != "1.4.0" {
		t.Errorf("version folder %s, SemVer %s; want folder v1.4 and SemVer 1.4.0", filepath.Dir(e.Dir), e.SemVer)
	}
}

// A version names one build: a different binary for an installed name,
// version and platform is refused unless asked to replace it, and then the
// replaced binary's hash is told; the same binary again is installed
// again (repairing a changed copy).
func TestReinstall(t *testing.T) {
	root := t.TempDir()
	c := Open(root)
	describeAs(t, shellAnswer("1.0.0"))

	src := pluginCopy(t, "shell-a")
	first, err := c.Install(context.Background(), src, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(first.Entry); err != nil { // fills the cache
		t.Fatal(err)
	}

	// The same binary again: installed again, and said to be.
	again, err := c.Install(context.Background(), src, InstallOptions{})
	if err != nil || !again.Again || again.Replaced != "" || again.SHA256 != first.SHA256 {
		t.Fatalf("the same binary again: %+v, %v; want it installed again", again, err)
	}

	// Same name/version/platform from a different, differently named file.
	other := pluginCopy(t, "shell-b")
	f, err := os.OpenFile(other, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("trailing bytes make a different hash"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	_, err = c.Install(context.Background(), other, InstallOptions{})
	if !errors.Is(err, ErrInstalled) || !strings.Contains(err.Error(), "runtime shell 1.0.0 (linux/amd64) is already installed from another binary (installed SHA-256 "+first.SHA256+", this one "+fileSHA256(t, other)+")") ||
		!strings.Contains(err.Error(), "bgjob runtime install --force "+other) {
		t.Fatalf("a different binary without Replace: %v; want ErrInstalled naming both hashes and --force", err)
	}
	if list, _ := c.List(); len(list) != 1 || list[0].SHA256 != first.SHA256 {
		t.Fatalf("a refused install changed the catalog: %v", list)
	}
	noStaging(t, root)

	second, err := c.Install(context.Background(), other, InstallOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.Replaced != first.SHA256 || second.Again {
		t.Errorf("replacing says Replaced %q, Again %v; want the old hash %s", second.Replaced, second.Again, first.SHA256)
	}
	if second.Dir != first.Dir {
		t.Fatalf("reinstall went to %s; want %s", second.Dir, first.Dir)
	}
	if second.SHA256 == first.SHA256 || second.SHA256 != fileSHA256(t, other) {
		t.Errorf("reinstall recorded %s; want the new file's %s", second.SHA256, fileSHA256(t, other))
	}
	if _, err := os.Stat(first.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old binary %s still there after reinstall (err %v)", first.Path, err)
	}
	list, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Binary != "shell-b" || list[0].SHA256 != second.SHA256 {
		t.Fatalf("after reinstall List = %v; want only the new shell-b", list)
	}
	if err := c.Verify(second.Entry); err != nil {
		t.Errorf("Verify of the reinstalled binary: %v", err)
	}
	// The stale entry must not be vouched for from the cache.
	if err := c.Verify(first.Entry); err == nil {
		t.Errorf("Verify of the replaced entry succeeded; want an error")
	}
	noStaging(t, root)
	noStaging(t, second.Dir)
}

func TestInstallRefusesNonPlugins(t *testing.T) {
	good := shellAnswer("1.0.0")
	with := func(f func(*sdk.Description)) string {
		a := good
		f(&a)
		data, _ := json.Marshal(a)
		return string(data)
	}
	tests := []struct {
		name     string
		describe string            // printed by the fake plugin
		env      map[string]string // extra environment for the fake plugin
		prepare  func(t *testing.T, src string) string
		want     string // substring of the error
	}{
		{name: "not JSON", describe: "{not json", want: "did not print a JSON description"},
		{name: "two objects", describe: with(func(*sdk.Description) {}) + "{}", want: "did not print a JSON description"},
		{name: "nothing printed", describe: "", want: "printed nothing"},
		{name: "protocol 7", describe: with(func(a *sdk.Description) { a.Protocol = 7 }), want: "protocol 7 is not supported"},
		{name: "protocol missing", describe: with(func(a *sdk.Description) { a.Protocol = 0 }), want: "protocol 0 is not supported"},
		{name: "empty name", describe: with(func(a *sdk.Description) { a.Name = "" }), want: "name is empty"},
		{name: "name escapes", describe: with(func(a *sdk.Description) { a.Name = "../evil" }), want: `name "../evil" cannot be used as a folder name`},
		{name: "hidden name", describe: with(func(a *sdk.Description) { a.Name = ".shell" }), want: "cannot be used as a folder name"},
		{name: "not semver", describe: with(func(a *sdk.Description) { a.Version = "banana" }), want: `version "banana" is not a semantic version`},
		{name: "empty os", describe: with(func(a *sdk.Description) { a.OS = "" }), want: `os "" is not a Go GOOS value`},
		{name: "arch with slash", describe: with(func(a *sdk.Description) { a.Arch = "amd64/x" }), want: `arch "amd64/x" is not a Go GOARCH value`},
		{name: "unknown kind", describe: with(func(a *sdk.Description) { a.Kind = "daemon" }), want: `kind "daemon" is neither`},
		{name: "exits non-zero", env: map[string]string{envExit: "3"}, want: "describe` failed: exit status 3 (it said: fake plugin: told to fail)"},
		{name: "hangs", env: map[string]string{envSleep: "1m"}, want: "describe` did not answer within"},
		{
			name: "not executable",
			prepare: func(t *testing.T, src string) string {
				if runtime.GOOS == "windows" {
					t.Skip("no executable bit on Windows")
				}
				if err := os.Chmod(src, 0o644); err != nil {
					t.Fatal(err)
				}
				return src
			},
			want: "it is not executable (mode -rw-r--r--); make it executable with 'chmod +x ",
		},
		{
			name: "not a program",
			prepare: func(t *testing.T, src string) string {
				if runtime.GOOS == "windows" {
					t.Skip("Unix exec semantics")
				}
				if err := os.WriteFile(src, []byte("just some text\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				return src
			},
			want: "describe` failed: fork/exec ",
		},
		{
			name:    "folder",
			prepare: func(t *testing.T, src string) string { return filepath.Dir(src) },
			want:    "it is a folder, not an executable file",
		},
	}
	saved := describeTimeout
	describeTimeout = 2 * time.Second
	defer func() { describeTimeout = saved }()

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			c := Open(root)
			src := pluginCopy(t, "plugin")
			if tt.prepare != nil {
				src = tt.prepare(t, src)
			}
			t.Setenv(envDescribe, tt.describe)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}

			e, err := c.Install(context.Background(), src, InstallOptions{})
			if err == nil {
				t.Fatalf("Install = %v, nil; want an error", e)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrNotPlugin) {
				t.Errorf("error does not wrap ErrNotPlugin: %v", err)
			}
			if prefix := src + " is not a bgjob plugin: "; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error = %q; want it to start with %q", err, prefix)
			}
			if strings.Contains(err.Error(), ".install-") {
				t.Errorf("error %q mentions the staging file", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q; want it to contain %q", err, tt.want)
			}
			if list, lerr := c.List(); lerr != nil || len(list) != 0 {
				t.Errorf("after a refused install List = %v, %v; want empty", list, lerr)
			}
			noStaging(t, root)
		})
	}
}

func TestInstallErrorWording(t *testing.T) {
	c := Open(t.TempDir())
	src := pluginCopy(t, "plugin")
	t.Setenv(envDescribe, "")
	t.Setenv(envExit, "1")
	_, err := c.Install(context.Background(), src, InstallOptions{})
	want := src + " is not a bgjob plugin: `" + src + " describe` failed: exit status 1 (it said: fake plugin: told to fail); check that it is a plugin built with the bgjob SDK"
	if err == nil || err.Error() != want {
		t.Errorf("error =\n%v\nwant\n%s", err, want)
	}
}

func TestInstallMissingFile(t *testing.T) {
	c := Open(t.TempDir())
	_, err := c.Install(context.Background(), filepath.Join(t.TempDir(), "nope"), InstallOptions{})
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotPlugin) {
		t.Errorf("Install of a missing file: %v; want a not-exist error that is not ErrNotPlugin", err)
	}
}

func TestInstallCancelled(t *testing.T) {
	c := Open(t.TempDir())
	t.Setenv(envDescribe, "{}")
	t.Setenv(envSleep, "1m")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Install(ctx, pluginCopy(t, "plugin"), InstallOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNotPlugin) {
		t.Errorf("Install with an expiring context: %v; want the context's error, not ErrNotPlugin", err)
	}
}
