package triggers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
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

// Stored definitions keep a host busy while one is enabled and has
// triggers, or is being fired; disabled ones, and ones without triggers,
// do not; nor does anything before the definitions were first read, which
// counts as busy.
func TestIdle(t *testing.T) {
	withTriggers, err := arm("ScheduledJob", &sdk.Definition{Name: "Hourly", Triggers: []string{"@hourly"}})
	if err != nil {
		t.Fatal(err)
	}
	noTriggers, err := arm("ScheduledJob", &sdk.Definition{Name: "ByHand"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		armed   []*armed
		enabled []bool
		firing  []bool
		ready   bool
		want    bool
	}{
		{"none", nil, nil, nil, true, true},
		{"not read yet", nil, nil, nil, false, false},
		{"enabled with triggers", []*armed{withTriggers}, []bool{true}, []bool{false}, true, false},
		{"disabled with triggers", []*armed{withTriggers}, []bool{false}, []bool{false}, true, true},
		{"enabled without triggers", []*armed{noTriggers}, []bool{true}, []bool{false}, true, true},
		{"disabled, being fired", []*armed{withTriggers}, []bool{false}, []bool{true}, true, false},
		{"one of two", []*armed{noTriggers, withTriggers}, []bool{true, true}, []bool{false, false}, true, false},
	}
	for _, tt := range tests {
		trig := &Triggers{ready: make(chan struct{}), armed: map[string]*armed{}}
		if tt.ready {
			close(trig.ready)
		}
		for i, a := range tt.armed {
			c := *a
			c.enabled, c.firing = tt.enabled[i], tt.firing[i]
			trig.armed[c.key] = &c
		}
		if got := trig.Idle(); got != tt.want {
			t.Errorf("%s: Idle() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A definition command for another directory than the host's is refused,
// naming both; the host's own, however it is spelled (a trailing slash, a
// symbolic link), is answered.
func TestDefinitionsOtherDir(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "jobs")
	other := filepath.Join(dir, "other")
	link := filepath.Join(dir, "link")
	for _, d := range []string{own, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(own, link); err != nil {
		t.Fatal(err)
	}
	trig := &Triggers{cfg: Config{Dir: own}, ready: make(chan struct{}), armed: map[string]*armed{}}
	close(trig.ready)
	for _, tt := range []struct {
		dir string
		ok  bool
	}{
		{"", true},
		{own, true},
		{own + "/", true},
		{link, true},
		{other, false},
		{filepath.Join(dir, "missing"), false},
	} {
		got, err := trig.Definitions(context.Background(), &api.DefinitionRequest{Action: api.DefinitionList, Dir: tt.dir})
		if tt.ok {
			if err != nil || got.Dir != own {
				t.Errorf("Dir %q: %v, %v; want the host's own listed", tt.dir, got, err)
			}
			continue
		}
		var e *errkind.Error
		if !errors.As(err, &e) || e.Kind != errkind.ErrBadRequest ||
			!strings.Contains(err.Error(), "your definition directory is "+tt.dir+", but this host schedules the definitions in "+own) {
			t.Errorf("Dir %q: %v; want a bad request naming both directories", tt.dir, err)
		}
	}
}
