package catalog

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// FuzzDescribeAnswer feeds any bytes to the part of describe that parses a
// plugin's answer: a plugin is not trusted, and what check accepts becomes
// folder names under the catalog root. The checked-in seeds are in
// testdata/fuzz/FuzzDescribeAnswer/.
func FuzzDescribeAnswer(f *testing.F) {
	for _, s := range []string{
		`{"name":"shell","version":"2.1.0","os":"linux","arch":"amd64","protocol":2,"kind":"runtime"}`,
		`{"name":"deploy_tool+x","version":"1.0.0-beta.1+build.5","os":"darwin","arch":"arm64","protocol":2,"kind":"jobtype","jobTypes":["deploy"]}`,
		`{"name":"shell","version":"2.1.0","os":"linux","arch":"amd64","protocol":2,"extra":{"newer":true}}`,
		`{"name":"../../etc","version":"1.0.0","os":"linux","arch":"amd64","protocol":2}`,
		`{"name":".hidden","version":"1.0.0","os":"linux","arch":"amd64","protocol":2}`,
		`{"name":"shell","version":"../1.0.0","os":"linux","arch":"amd64","protocol":2}`,
		`{"name":"shell","version":"banana","os":"linux","arch":"amd64","protocol":2}`,
		`{"name":"shell","version":"2.1.0","os":"linux/../x","arch":"amd64","protocol":2}`,
		`{"name":"shell","version":"2.1.0","os":"linux","arch":"amd64","protocol":7}`,
		`{"name":"shell","version":"2.1.0","os":"linux","arch":"amd64","protocol":2,"kind":"daemon"}`,
		`{"name":"a\u0000b","version":"1.0.0","os":"linux","arch":"amd64","protocol":2}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Manifest
		if json.Unmarshal(b, &m.Description) != nil {
			return
		}
		v, err := m.check()
		if err != nil {
			if v != nil {
				t.Fatalf("check failed (%v) but returned version %v", err, v)
			}
			return
		}

		platform := m.OS + "_" + m.Arch
		for _, c := range []struct{ what, s string }{{"name", m.Name}, {"version", m.Version}, {"os_arch", platform}} {
			if msg := unsafeFolderName(c.s); msg != "" {
				t.Fatalf("check accepted %s %q, which %s", c.what, c.s, msg)
			}
		}
		root := filepath.FromSlash("/catalog")
		dir := filepath.Join(root, m.Name, m.Version, platform)
		if rel, err := filepath.Rel(root, dir); err != nil || rel != filepath.Join(m.Name, m.Version, platform) || len(strings.Split(filepath.ToSlash(rel), "/")) != 3 {
			t.Fatalf("check accepted %q %q %q, which make the folder %s", m.Name, m.Version, platform, dir)
		}

		sv, err := semver.NewVersion(m.Version)
		if err != nil {
			t.Fatalf("check accepted version %q, which semver rejects: %v", m.Version, err)
		}
		if v == nil || !v.Equal(sv) || v.Original() != m.Version {
			t.Fatalf("check returned version %v for %q", v, m.Version)
		}

		// What install accepts, written as the manifest and read back as
		// readEntry does, is still accepted and names the same folders.
		m.Binary, m.SHA256 = "plugin", strings.Repeat("0", 64)
		data, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var back Manifest
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("the manifest %s does not read back: %v", data, err)
		}
		if _, err := back.check(); err != nil {
			t.Fatalf("the manifest %s is rejected when read back: %v", data, err)
		}
		if back.Name != m.Name || back.Version != m.Version || back.OS+"_"+back.Arch != platform {
			t.Fatalf("the manifest %s reads back as %s %s %s_%s", data, back.Name, back.Version, back.OS, back.Arch)
		}
	})
}

// unsafeFolderName says why s cannot safely be one folder name, or "".
func unsafeFolderName(s string) string {
	switch {
	case s == "":
		return "is empty"
	case s == "." || s == "..":
		return "is . or .."
	case s[0] == '.':
		return "starts with '.'"
	case strings.ContainsAny(s, "/\\:\x00"):
		return "contains '/', '\\', ':' or NUL"
	case !filepath.IsLocal(s) || filepath.Base(s) != s:
		return "is not a local file name"
	}
	return ""
}
