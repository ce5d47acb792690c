package triggers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"github.com/hashicorp/go-hclog"
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

// memState is a State in memory; beforePut, if set, runs before each
// PutTrigger.
type memState struct {
	mu        sync.Mutex
	m         map[string]store.Trigger
	beforePut func(key string)
}

func (s *memState) Trigger(key string) (store.Trigger, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[key]
	return t, ok, nil
}

func (s *memState) PutTrigger(key string, t store.Trigger) error {
	if s.beforePut != nil {
		s.beforePut(key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = t
	return nil
}

// testTriggers is a schedule over defs (its listing) whose loop does not
// run: the test calls reload, fireDue and Definitions itself. Starts are
// counted in started.
func testTriggers(t *testing.T, defs func() []*sdk.Definition, st *memState) (*Triggers, *atomic.Int32, *sync.WaitGroup) {
	t.Helper()
	var started atomic.Int32
	var wg sync.WaitGroup
	cfg := Config{
		Dir: t.TempDir(), Ctx: context.Background(), Log: hclog.NewNullLogger(), State: st,
		Go: func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() },
		Listers: func() ([]Lister, error) {
			return []Lister{{Type: "ScheduledJob", Definitions: func(context.Context, string) ([]*sdk.Definition, []string, error) {
				return defs(), nil, nil
			}}}, nil
		},
		Start:   func(context.Context, *api.StartRequest) error { started.Add(1); return nil },
		User:    func() (User, error) { return User{Name: "u", Home: "/", Shell: "/bin/sh"}, nil },
		LastRun: func(string, string) *time.Time { return nil },
	}
	// fingerprint is "" for an empty directory, and reload lists only
	// a directory with something in it.
	if err := os.WriteFile(filepath.Join(cfg.Dir, "x.hcl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	trig := &Triggers{cfg: cfg, armed: map[string]*armed{}, ready: make(chan struct{})}
	close(trig.ready)
	return trig, &started, &wg
}

// A reload of an unchanged schedule keeps a time that came while the
// directory was being read: it still fires, rather than being skipped for
// the next one.
func TestReloadKeepsADueTime(t *testing.T) {
	def := func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "Hourly", Triggers: []string{"@hourly"}}}
	}
	trig, started, wg := testTriggers(t, def, &memState{m: map[string]store.Trigger{}})
	trig.reload(false)
	// The loop's last look was before the hour; the hour has come (a
	// past time stands for it) and the directory is read again before
	// the loop looks.
	due := time.Now().Add(-100 * time.Millisecond)
	trig.mu.Lock()
	trig.armed["ScheduledJob/Hourly"].next = due
	trig.mu.Unlock()
	trig.reload(false)
	trig.fireDue(time.Now())
	wg.Wait()
	if n := started.Load(); n != 1 {
		t.Fatalf("the time that came during a reload started %d jobs, want 1", n)
	}
	// A changed schedule is armed afresh.
	trig.mu.Lock()
	trig.armed["ScheduledJob/Hourly"].next = due
	trig.mu.Unlock()
	def = func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "Hourly", Triggers: []string{"@daily"}}}
	}
	trig.cfg.Listers = func() ([]Lister, error) {
		return []Lister{{Type: "ScheduledJob", Definitions: func(context.Context, string) ([]*sdk.Definition, []string, error) {
			return def(), nil, nil
		}}}, nil
	}
	trig.reload(false)
	trig.mu.Lock()
	next := trig.armed["ScheduledJob/Hourly"].next
	trig.mu.Unlock()
	if !next.After(time.Now()) {
		t.Errorf("a changed schedule kept its old time %v", next)
	}
}

// A disable that lands while a fire is recording its time is kept: the
// fire does not write back the state it read before the disable.
func TestDisableDuringAFireIsKept(t *testing.T) {
	st := &memState{m: map[string]store.Trigger{}}
	trig, _, wg := testTriggers(t, func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "Often", Triggers: []string{"* * * * * *"}}}
	}, st)
	trig.reload(false)
	key := "ScheduledJob/Often"
	inPut := make(chan struct{})
	release := make(chan struct{})
	var first atomic.Bool
	st.beforePut = func(string) {
		// Only the fire's write waits (a sync.Once would make the
		// disable's wait too).
		if first.CompareAndSwap(false, true) {
			close(inPut)
			<-release
		}
	}
	trig.mu.Lock()
	a := trig.armed[key]
	trig.mu.Unlock()
	trig.fire(a, time.Now())
	<-inPut // the fire has read the state and is about to write it
	disabled := make(chan error, 1)
	go func() {
		disabled <- trig.setEnabled("Often", false)
	}()
	var err error
	select {
	case err = <-disabled:
	case <-time.After(200 * time.Millisecond):
		// Waiting for the fire to write: right.
		close(release)
		err = <-disabled
	}
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-release:
	default:
		close(release)
	}
	wg.Wait()
	got, _, _ := st.Trigger(key)
	if got.Enabled == nil || *got.Enabled {
		t.Errorf("after a disable during a fire the kept state is %+v; want disabled", got)
	}
}

// An edit of a definition's enabled made after `bgjob definition
// enable/disable` wins over it; an edit of anything else leaves the
// override.
func TestFileEnabledEditWinsOverAnOverride(t *testing.T) {
	disabled := false
	st := &memState{m: map[string]store.Trigger{}}
	trig, _, _ := testTriggers(t, func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "Job", Triggers: []string{"@hourly"}, Disabled: disabled}}
	}, st)
	trig.reload(false)
	enabled := func() bool {
		trig.mu.Lock()
		defer trig.mu.Unlock()
		return trig.armed["ScheduledJob/Job"].enabled
	}
	if err := trig.setEnabled("Job", false); err != nil {
		t.Fatal(err)
	}
	trig.reload(false) // an edit of something else
	if enabled() {
		t.Fatal("a reload with the file unchanged dropped `disable`")
	}
	if err := trig.setEnabled("Job", true); err != nil {
		t.Fatal(err)
	}
	disabled = true // the file now says enabled = false
	trig.reload(false)
	if enabled() {
		t.Error("the file says enabled = false, but the definition is still enabled by an earlier `enable`")
	}
	if got, _, _ := st.Trigger("ScheduledJob/Job"); got.Enabled != nil {
		t.Errorf("the override is still kept: %+v", got)
	}
	disabled = false // and back on, by the file
	trig.reload(false)
	if !enabled() {
		t.Error("the file says enabled = true, but the definition is disabled")
	}
}

// A definition whose trigger cannot start it (no runtime, a bad script
// file) says so in 'definition list' and 'show', and says nothing once a
// trigger has started it: it did not look healthy with only a line in
// host.log.
func TestFailedStartIsShown(t *testing.T) {
	trig, _, wg := testTriggers(t, func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "Py", Triggers: []string{"@hourly"}}}
	}, &memState{m: map[string]store.Trigger{}})
	fail := errors.New("no runtime 'python' is installed")
	trig.cfg.Start = func(context.Context, *api.StartRequest) error { return fail }
	trig.reload(false)
	a := trig.armed["ScheduledJob/Py"]
	trig.fire(a, time.Now())
	wg.Wait()
	list := func() *api.Definitions {
		t.Helper()
		d, err := trig.Definitions(context.Background(), &api.DefinitionRequest{Action: api.DefinitionList})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := list()
	if len(d.Problems) != 1 || !strings.Contains(d.Problems[0], "Py did not start at ") || !strings.Contains(d.Problems[0], fail.Error()) ||
		len(d.Definitions) != 1 || d.Definitions[0].LastError != fail.Error() {
		t.Fatalf("after a failed start: problems %q, LastError %q; want both saying why", d.Problems, d.Definitions[0].LastError)
	}
	trig.cfg.Start = func(context.Context, *api.StartRequest) error { return nil }
	trig.fire(a, time.Now())
	wg.Wait()
	if d := list(); len(d.Problems) != 0 || d.Definitions[0].LastError != "" {
		t.Errorf("after a start: problems %q, LastError %q; want none", d.Problems, d.Definitions[0].LastError)
	}
}

// A trigger that comes while the definition's last run still goes starts
// no run (Task Scheduler's IgnoreNew): a job taking longer than its
// interval does not pile up runs.
func TestFireWhileARunGoesStartsNone(t *testing.T) {
	trig, started, wg := testTriggers(t, func() []*sdk.Definition {
		return []*sdk.Definition{{Name: "Slow", Triggers: []string{"@every 1s"}}}
	}, &memState{m: map[string]store.Trigger{}})
	going := true
	trig.cfg.Running = func(typ, name string) bool { return going && typ == "ScheduledJob" && name == "Slow" }
	trig.reload(false)
	a := trig.armed["ScheduledJob/Slow"]
	trig.fire(a, time.Now())
	wg.Wait()
	if n := started.Load(); n != 0 {
		t.Fatalf("a trigger while a run goes started %d runs, want none", n)
	}
	// Said in 'definition list': a run that never ends holds the schedule.
	if d, err := trig.Definitions(context.Background(), &api.DefinitionRequest{Action: api.DefinitionList}); err != nil ||
		len(d.Problems) != 1 || !strings.Contains(d.Problems[0], "its last run still goes") {
		t.Errorf("definition list after a skipped trigger: %+v, %v; want a warning saying why", d, err)
	}
	going = false
	trig.fire(a, time.Now())
	wg.Wait()
	if n := started.Load(); n != 1 {
		t.Errorf("a trigger with no run going started %d runs, want 1", n)
	}
}

// catch_up makes up a run missed while no host ran, but not one missed
// while the definition's own file had it off: a file turned on while no
// host ran counts its missed runs from the edit (the file's time).
func TestCatchUpCountsFromAFileEnable(t *testing.T) {
	for _, tt := range []struct {
		name    string
		off     bool          // the file had it off when the host last read it
		editAgo time.Duration // the file's time, before the host's start
		want    int32
	}{
		{"on all along", false, 3 * time.Hour, 1},
		{"turned on after the missed run", true, 30 * time.Minute, 0},
		{"turned on before a missed run", true, 2 * time.Hour, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "job.hcl")
			if err := os.WriteFile(src, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			disabled := tt.off
			st := &memState{m: map[string]store.Trigger{}}
			defs := func() []*sdk.Definition {
				return []*sdk.Definition{{Name: "Job", Source: src, Triggers: []string{"@every 1h"}, CatchUp: true, Disabled: disabled}}
			}
			// A host read the file three hours ago, and stopped.
			trig, _, _ := testTriggers(t, defs, st)
			trig.reload(false)
			key := "ScheduledJob/Job"
			kept := st.m[key]
			kept.Since = time.Now().Add(-3 * time.Hour)
			st.m[key] = kept
			// Edited (to on) while no host ran; a host starts.
			disabled = false
			edit := time.Now().Add(-tt.editAgo)
			if err := os.Chtimes(src, edit, edit); err != nil {
				t.Fatal(err)
			}
			trig, started, wg := testTriggers(t, defs, st)
			trig.reload(true)
			wg.Wait()
			if n := started.Load(); n != tt.want {
				t.Errorf("runs made up: %d, want %d", n, tt.want)
			}
			if got := st.m[key]; got.FileEnabled == nil || !*got.FileEnabled {
				t.Errorf("kept state %+v: want the file's enabled = true recorded", got)
			}
		})
	}
}
