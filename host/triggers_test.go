package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

// A name with wildcard characters, escaped, matches only itself: a trigger
// starts its own definition, not one whose name its pattern would match.
func TestEscapePattern(t *testing.T) {
	for _, name := range []string{"Backup", "a*b", "q?", "[x]", `back\slash`} {
		p := escapePattern(name)
		if !matchName(p, name) {
			t.Errorf("%q escaped as %q does not match itself", name, p)
		}
	}
	if matchName(escapePattern("a*"), "abc") {
		t.Error(`escaped "a*" matches "abc"`)
	}
}

// Triggers fire at the earliest of their times; seconds are optional; a
// bad expression names the definition's source.
func TestArm(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.Local)
	a, err := arm("ScheduledJob", &sdk.Definition{Name: "x", Source: "x.hcl:1", Triggers: []string{"0 12 * * *", "*/20 * * * * *", "@hourly"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.key != "ScheduledJob/x" {
		t.Errorf("key %q", a.key)
	}
	if got, want := nextAfter(a.scheds, at), at.Add(20*time.Second); !got.Equal(want) {
		t.Errorf("next after %v = %v, want %v", at, got, want)
	}
	if got := nextAfter(nil, at); !got.IsZero() {
		t.Errorf("no triggers fire at %v", got)
	}
	_, err = arm("ScheduledJob", &sdk.Definition{Name: "y", Source: "y.hcl:3", Triggers: []string{"61 * * * *"}})
	if err == nil || !strings.HasPrefix(err.Error(), "y.hcl:3: trigger \"61 * * * *\"") {
		t.Errorf("a bad trigger: %v", err)
	}
}

// The directory's fingerprint changes with any entry's name, size or
// modification time, and is empty for a directory that is not there.
func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	if fingerprint(filepath.Join(dir, "none")) != "" {
		t.Error("a missing directory has a fingerprint")
	}
	f := filepath.Join(dir, "a.hcl")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := fingerprint(dir)
	if err := os.WriteFile(f, []byte("xy"), 0o644); err != nil {
		t.Fatal(err)
	}
	grown := fingerprint(dir)
	if grown == before {
		t.Error("a file that grew left the fingerprint")
	}
	if err := os.Chtimes(f, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if fingerprint(dir) == grown {
		t.Error("a touched file left the fingerprint")
	}
}
