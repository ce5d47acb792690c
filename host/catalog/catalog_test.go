package catalog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/sdk"
)

func TestListSortsAndSkips(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "9.0.0", linuxAMD64)
	addEntry(t, root, "shell", "10.0.0", linux386)
	addEntry(t, root, "shell", "10.0.0", linuxAMD64)
	addEntry(t, root, "shell", "10.0.0", darwinARM64)
	addEntry(t, root, "shell", "10.0.0-rc.1", linuxAMD64)
	addEntry(t, root, "pwsh", "7.4.0", linuxAMD64)
	// Things List must ignore.
	for _, dir := range []string{
		"empty/1.0.0/linux_amd64",      // no manifest: an interrupted install
		"shell/11.0.0",                 // no platform folder yet
		".hidden/1.0.0/linux_amd64",    // dot-folders are staging areas
		"shell/.staging/linux_amd64",   // likewise one level down
		"shell/8.0.0/.tmp/linux_amd64", // and deeper
	} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, ".install-123"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "README"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	list, err := Open(root).List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Name+" "+e.Version+" "+e.OS+"/"+e.Arch)
	}
	want := []string{
		"pwsh 7.4.0 linux/amd64",
		"shell 10.0.0 darwin/arm64",
		"shell 10.0.0 linux/amd64", // the common architecture first
		"shell 10.0.0 linux/386",
		"shell 10.0.0-rc.1 linux/amd64",
		"shell 9.0.0 linux/amd64",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("List order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range list {
		if !filepath.IsAbs(e.Path) || filepath.Dir(e.Path) != e.Dir || e.SemVer.Original() != e.Version {
			t.Errorf("entry %v has Dir=%s Path=%s SemVer=%v", e, e.Dir, e.Path, e.SemVer)
		}
	}
}

func TestListRejectsBadManifests(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m map[string]any) // nil: write invalid JSON
		want   string
	}{
		{name: "not JSON", want: "is not valid JSON"},
		{name: "binary escapes", mutate: func(m map[string]any) { m["binary"] = "../../evil" }, want: `binary file name "../../evil" starts with '.'`},
		{name: "binary is manifest", mutate: func(m map[string]any) { m["binary"] = "manifest.json" }, want: "reserved for the manifest"},
		{name: "bad hash", mutate: func(m map[string]any) { m["sha256"] = "abc" }, want: `sha256 "abc" is not 64 hexadecimal digits`},
		{name: "bad version", mutate: func(m map[string]any) { m["version"] = "x" }, want: `version "x" is not a semantic version`},
		{name: "wrong folder", mutate: func(m map[string]any) { m["version"] = "2.0.0" }, want: "it describes shell 2.0.0 linux_amd64 but sits in shell/1.0.0/linux_amd64"},
		{name: "bad protocol", mutate: func(m map[string]any) { m["protocol"] = 3 }, want: "protocol 3 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			bin := addEntry(t, root, "shell", "1.0.0", linuxAMD64)
			file := filepath.Join(filepath.Dir(bin), manifestFile)
			data := []byte("{oops")
			if tt.mutate != nil {
				raw, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				tt.mutate(m)
				if data, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(root).List()
			if err == nil {
				t.Fatal("List accepted a bad manifest")
			}
			if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q; want it to name %s and contain %q", err, file, tt.want)
			}
		})
	}
}

func TestOpenMakesRootAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	c := Open("rel/runtimes")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "rel", "runtimes"); c.Root() != want {
		t.Errorf("Root() = %s; want %s", c.Root(), want)
	}
}

func TestDefaultRoot(t *testing.T) {
	home := t.TempDir()
	xdg := filepath.Join(t.TempDir(), "data")
	tests := []struct {
		name, runtimes, xdg, want string
	}{
		{"BGJOB_RUNTIMES wins", "/opt/bgjob/runtimes", xdg, "/opt/bgjob/runtimes"},
		{"XDG_DATA_HOME", "", xdg, filepath.Join(xdg, "bgjob", "runtimes")},
		{"relative XDG_DATA_HOME is ignored", "", "rel/data", filepath.Join(home, ".local", "share", "bgjob", "runtimes")},
		{"home", "", "", filepath.Join(home, ".local", "share", "bgjob", "runtimes")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BGJOB_RUNTIMES", tt.runtimes)
			t.Setenv("XDG_DATA_HOME", tt.xdg)
			t.Setenv("HOME", home)
			if runtime.GOOS == "windows" {
				t.Setenv("USERPROFILE", home)
			}
			if got := DefaultRoot(); got != tt.want {
				t.Errorf("DefaultRoot() = %s; want %s", got, tt.want)
			}
		})
	}
}

func TestFormatTable(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "3.0.0-beta.1", linuxAMD64)
	addEntry(t, root, "pwsh", "7.4.0", darwinARM64, sdk.TypeInfo{Name: "Copy"}, sdk.TypeInfo{Name: "Sync"})
	list, err := Open(root).List()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	FormatTable(&b, list)
	p1, p2 := list[0].Path, list[1].Path
	want := "" +
		"Name  Version      OS/Arch      Protocol JobTypes  Path\n" +
		"----  -------      -------      -------- --------  ----\n" +
		"pwsh  7.4.0        darwin/arm64 2        Copy,Sync " + p1 + "\n" +
		"shell 3.0.0-beta.1 linux/amd64  2        -         " + p2 + "\n"
	if b.String() != want {
		t.Errorf("FormatTable wrote:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	FormatTable(&b, nil)
	if b.Len() != 0 {
		t.Errorf("FormatTable(nil) wrote %q; want nothing", b.String())
	}
}

func TestEntryJSON(t *testing.T) {
	root := t.TempDir()
	addEntry(t, root, "shell", "2.1.0", linuxAMD64)
	list, err := Open(root).List()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(list[0])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"name", "version", "os", "arch", "protocol", "kind", "binary", "sha256", "dir", "path"} {
		if _, ok := got[key]; !ok {
			t.Errorf("Entry JSON lacks %q: %s", key, data)
		}
	}
	if len(got) != 10 {
		t.Errorf("Entry JSON has unexpected keys: %s", data)
	}
}
