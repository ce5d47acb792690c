// Package triggers fires the triggers of the stored definitions in the host
// user's definition directory, as PowerShell's task scheduler fires
// scheduled jobs: it watches the directory, arms each definition's cron
// schedules, starts a definition's job at each of its times, keeps what
// each definition's schedule must survive a restart (last fire, enable
// override) in the store, and answers `bgjob definition ...`.
//
// Which files hold definitions, and what they say, is the business of the
// job types that list them (sdk.Lister, ScheduledJob's HCL files); how a
// job starts is the host's. So the package is given both as functions
// (Config.Listers, Config.Start) and never imports package host: it is a
// schedule beside the job table, not part of it, and the host reaches it
// only through New, Definitions and Idle.
package triggers

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/robfig/cron/v3"
	"golang.org/x/text/unicode/norm"
)

// cronParser reads trigger expressions: five fields or six with leading
// seconds, and descriptors such as @hourly. It is the parser ScheduledJob
// validates them with (plugins/scheduled.CronParser); the host cannot
// import a plugin, so the options are repeated here.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Intervals of the trigger loop: how often it looks at the clock, and at
// the definition directory for changes.
const (
	triggerTick  = 250 * time.Millisecond
	watchDirTick = 2 * time.Second
)

// Lister is an installed job type that lists definitions (sdk.Lister).
type Lister struct {
	Type string
	// Definitions asks the type's plugin for the definitions in dir, and
	// for what it found wrong with the ones it could not read.
	Definitions func(ctx context.Context, dir string) ([]*sdk.Definition, []string, error)
}

// State is where a definition's schedule state is kept across restarts
// (*store.Store).
type State interface {
	Trigger(key string) (store.Trigger, bool, error)
	PutTrigger(key string, t store.Trigger) error
}

// User is the host's user, whom a triggered job runs as.
type User struct {
	Name, Home, Shell string
}

// Config is what the host gives the schedule. Every field is needed.
type Config struct {
	// Dir is the definition directory.
	Dir string
	// Ctx is the host's: cancelled, the loop ends and no more fires start.
	Ctx context.Context
	// Go runs f in a goroutine the host's Close waits for.
	Go    func(f func())
	Log   hclog.Logger
	State State
	// Listers are the installed job types that list definitions.
	Listers func() ([]Lister, error)
	// Start starts a definition's job, as `bgjob start --type T
	// --definition-name N` by the host's user would.
	Start func(ctx context.Context, req *api.StartRequest) error
	// User looks up the host's user.
	User func() (User, error)
	// LastRun is when the host's user's newest run of the definition
	// started, if there is one.
	LastRun func(typ, name string) *time.Time
	// Running reports whether a run of the definition has not finished
	// yet (nil: none ever has).
	Running func(typ, name string) bool
}

// Triggers is the host's schedule. Its methods are safe for concurrent use.
type Triggers struct {
	cfg   Config
	ready chan struct{} // closed once the definitions were first read

	mu       sync.Mutex
	armed    map[string]*armed // by key
	problems []string
	print    string // the directory's fingerprint when last read
	loadedAt time.Time
}

// armed is one definition and when it fires next.
type armed struct {
	key     string // TYPE/NAME
	typ     string
	def     *sdk.Definition
	scheds  []cron.Schedule
	enabled bool
	next    time.Time // zero: never (disabled, or no triggers)
	firing  bool
	// failed is why its last trigger did not start it (no runtime, a bad
	// script file), at failedAt; empty once one did. A definition that
	// never starts must not look healthy in 'definition list'.
	failed   string
	failedAt time.Time
}

func triggerKey(typ, name string) string { return typ + "/" + name }

// New reads the definitions in cfg.Dir and runs the trigger loop until
// cfg.Ctx is done.
func New(cfg Config) *Triggers {
	// Absolute, as the CLI sends the directory it means (DefinitionRequest.Dir)
	// and as a triggered start names it.
	if abs, err := filepath.Abs(cfg.Dir); err == nil {
		cfg.Dir = abs
	}
	t := &Triggers{cfg: cfg, armed: map[string]*armed{}, ready: make(chan struct{})}
	cfg.Go(func() {
		// Read beside the host's start, which need not wait for the
		// plugins; a definition command waits for it instead.
		t.reload(true)
		close(t.ready)
		tick := time.NewTicker(triggerTick)
		defer tick.Stop()
		lastLook := time.Now()
		for {
			select {
			case <-cfg.Ctx.Done():
				return
			case now := <-tick.C:
				if now.Sub(lastLook) >= watchDirTick {
					lastLook = now
					if fingerprint(cfg.Dir) != t.fingerprint() {
						t.reload(false)
					}
				}
				t.fireDue(now)
			}
		}
	})
	return t
}

func (t *Triggers) fingerprint() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.print
}

// fingerprint stands for the directory's contents: names, sizes and
// modification times of its entries. A change to any means reading the
// definitions again.
func fingerprint(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", e.Name(), fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// reload reads the definitions again and arms their triggers. At the
// host's start (first), a definition asking for it makes up one run it
// missed while no host ran.
func (t *Triggers) reload(first bool) {
	cfg := t.cfg
	print := fingerprint(cfg.Dir)
	var defs []*armed
	var problems []string
	if print != "" {
		listers, err := cfg.Listers()
		if err != nil {
			problems = append(problems, fmt.Sprintf("cannot list the job types: %v", err))
		}
		for _, l := range listers {
			got, probs, err := l.Definitions(cfg.Ctx, cfg.Dir)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: cannot list its definitions: %v", l.Type, err))
				continue
			}
			problems = append(problems, probs...)
			for _, d := range got {
				a, err := arm(l.Type, d)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				defs = append(defs, a)
			}
		}
	}
	now := time.Now()
	var due []*armed
	t.mu.Lock()
	old := t.armed
	t.armed = map[string]*armed{}
	for _, a := range defs {
		prev := old[a.key]
		if prev != nil {
			a.firing, a.failed, a.failedAt = prev.firing, prev.failed, prev.failedAt
		}
		a.enabled = !a.def.Disabled
		st, found, err := cfg.State.Trigger(a.key)
		if err != nil {
			cfg.Log.Warn("cannot read a definition's schedule state", "definition", a.key, "err", err)
		}
		put := !found
		if !found {
			st.Since = now
		}
		fileOn := a.enabled
		if st.FileEnabled != nil && *st.FileEnabled != fileOn {
			// The file's enabled changed since the host last read it.
			// Turned on, its missed runs count from the edit: while it
			// was off nothing was missed, so catch_up makes up no run
			// from then (the file's time stands for the edit, as a
			// host may not have run when it was made). An override by
			// `bgjob definition enable/disable` is older than the
			// edit, which is the newer word, so the override goes.
			wasOn := *st.FileEnabled
			if st.Enabled != nil {
				wasOn = *st.Enabled
			}
			if fileOn && !wasOn {
				st.Since = editTime(a.def.Source, st.Since, now)
			}
			st.Enabled = nil
		}
		if st.FileEnabled == nil || *st.FileEnabled != fileOn {
			st.FileEnabled, put = &fileOn, true
		}
		if put {
			if err := cfg.State.PutTrigger(a.key, st); err != nil {
				cfg.Log.Warn("cannot keep a definition's schedule state", "definition", a.key, "err", err)
			}
		}
		if st.Enabled != nil {
			a.enabled = *st.Enabled
		}
		if a.enabled && len(a.scheds) > 0 {
			a.next = nextAfter(a.scheds, now)
			if prev != nil && prev.enabled && !prev.next.IsZero() && slices.Equal(prev.def.Triggers, a.def.Triggers) {
				// The same schedule, read again: a time that came
				// while the directory was read (or since the loop's
				// last look) is still due, not skipped.
				a.next = prev.next
			}
			if first && a.def.CatchUp && !nextAfter(a.scheds, st.Since).After(now) {
				due = append(due, a)
			}
		}
		t.armed[a.key] = a
	}
	t.problems, t.print, t.loadedAt = problems, print, now
	t.mu.Unlock()
	for _, p := range problems {
		cfg.Log.Warn("a definition cannot be used", "problem", p)
	}
	for _, a := range due {
		cfg.Log.Info("making up a run missed while no host ran", "definition", a.key)
		t.fire(a, now)
	}
}

// editTime is when the definition file at path was last changed, for a
// definition the file has just turned on: not before since (when the host
// last fired it or first saw it) and not after now (a clock set back).
func editTime(path string, since, now time.Time) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return now
	}
	t := fi.ModTime()
	if t.Before(since) {
		return since
	}
	if t.After(now) {
		return now
	}
	return t
}

// arm parses d's triggers.
func arm(typ string, d *sdk.Definition) (*armed, error) {
	a := &armed{key: triggerKey(typ, d.Name), typ: typ, def: d}
	for _, expr := range d.Triggers {
		s, err := cronParser.Parse(expr)
		if err != nil {
			return nil, fmt.Errorf("%s: trigger %q: %v", d.Source, expr, err)
		}
		a.scheds = append(a.scheds, s)
	}
	return a, nil
}

// nextAfter is the earliest time after t any of scheds fires.
func nextAfter(scheds []cron.Schedule, t time.Time) time.Time {
	var next time.Time
	for _, s := range scheds {
		if n := s.Next(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}

// fireDue starts every definition whose time has come.
func (t *Triggers) fireDue(now time.Time) {
	var due []*armed
	t.mu.Lock()
	for _, a := range t.armed {
		if a.enabled && !a.next.IsZero() && !now.Before(a.next) {
			due = append(due, a)
			a.next = nextAfter(a.scheds, now)
		}
	}
	t.mu.Unlock()
	for _, a := range due {
		t.fire(a, now)
	}
}

// fire starts a's job, unless its previous start is still being made; the
// start happens beside the loop (it resolves the definition in a plugin).
func (t *Triggers) fire(a *armed, at time.Time) {
	cfg := t.cfg
	t.mu.Lock()
	if a.firing {
		t.mu.Unlock()
		return
	}
	a.firing = true
	t.mu.Unlock()
	// A reload while the start is made arms a new *armed for the key,
	// which copies firing (and failed): what the fire ends with goes to
	// the one armed now, not only to the one it was given.
	current := func(f func(*armed)) {
		t.mu.Lock()
		defer t.mu.Unlock()
		f(a)
		if c := t.armed[a.key]; c != nil && c != a {
			f(c)
		}
	}
	cfg.Go(func() {
		defer current(func(x *armed) { x.firing = false })
		// Under t.mu, as setEnabled writes the same record: read,
		// changed and written between its read and its write, the
		// enable or disable would be lost.
		t.mu.Lock()
		st, _, _ := cfg.State.Trigger(a.key)
		st.Since = at
		err := cfg.State.PutTrigger(a.key, st)
		t.mu.Unlock()
		if err != nil {
			cfg.Log.Warn("cannot keep a definition's schedule state", "definition", a.key, "err", err)
		}
		if cfg.Running != nil && cfg.Running(a.typ, a.def.Name) {
			// As Task Scheduler's default (IgnoreNew), which PowerShell's
			// scheduled jobs run under: a trigger that comes while the
			// last run still goes starts none, rather than pile up runs
			// of a job that takes longer than its interval.
			cfg.Log.Info("a trigger came while the definition's last run still goes; no run started", "definition", a.key)
			// Said in 'definition list' as a start that failed is: a
			// run that never ends (suspended, hung) holds the schedule.
			current(func(x *armed) {
				x.failed, x.failedAt = "its last run still goes, and a trigger starts none meanwhile", at
			})
			return
		}
		req, err := t.request(a)
		if err == nil {
			err = cfg.Start(cfg.Ctx, req)
		}
		if err != nil && cfg.Ctx.Err() == nil {
			cfg.Log.Error("a triggered definition did not start", "definition", a.key, "err", err)
			current(func(x *armed) { x.failed, x.failedAt = err.Error(), at })
			return
		}
		current(func(x *armed) { x.failed = "" })
		cfg.Log.Info("started a triggered definition", "definition", a.key)
	})
}

// request is the start request a trigger makes: the definition by its
// exact name, as the host's user, in their home (as the host was told it:
// $HOME), with a login's environment rather than the host's, as cron
// gives.
func (t *Triggers) request(a *armed) (*api.StartRequest, error) {
	acct, err := t.cfg.User()
	if err != nil {
		return nil, err
	}
	home := acct.Home
	if dir, err := os.UserHomeDir(); err == nil {
		home = dir
	}
	workdir := home
	if fi, err := os.Stat(workdir); err != nil || !fi.IsDir() {
		workdir = "/"
	}
	env := []string{"HOME=" + home, "USER=" + acct.Name, "LOGNAME=" + acct.Name, "SHELL=" + acct.Shell,
		"PATH=/usr/local/bin:/usr/bin:/bin"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "LANG" || k == "TZ" || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	return &api.StartRequest{Type: a.typ, DefinitionName: escapePattern(a.def.Name), DefinitionPath: t.cfg.Dir,
		Workdir: workdir, Env: env}, nil
}

// escapePattern makes name match itself only, as a wildcard pattern.
func escapePattern(name string) string {
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Definitions answers `bgjob definition ...`; whether the caller may ask
// is the host's to decide. Its errors have errkind's kinds.
func (t *Triggers) Definitions(ctx context.Context, req *api.DefinitionRequest) (*api.Definitions, error) {
	if req.Dir != "" && !sameDir(req.Dir, t.cfg.Dir) {
		// The host keeps the directory it started with; answering about
		// it would show a user who changed BGJOB_DEFINITIONS another
		// directory's definitions as if they were theirs.
		return nil, errkind.Errorf(errkind.ErrBadRequest, "your definition directory is %s, but this host schedules the definitions in %s, the one it was started with; "+
			"stop it ('bgjob host stop'; its jobs go on) and the next command starts a host for yours, or set BGJOB_DEFINITIONS=%s to use its", req.Dir, t.cfg.Dir, t.cfg.Dir)
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch req.Action {
	case api.DefinitionList, api.DefinitionShow:
	case api.DefinitionReload:
		t.reload(false)
	case api.DefinitionEnable, api.DefinitionDisable:
		if err := t.setEnabled(req.Name, req.Action == api.DefinitionEnable); err != nil {
			return nil, err
		}
	default:
		return nil, errkind.Errorf(errkind.ErrBadRequest, "unknown definition action %q; use list, show, enable, disable or reload", req.Action)
	}
	dir := t.cfg.Dir
	t.mu.Lock()
	out := &api.Definitions{Dir: dir, Problems: append([]string{}, t.problems...)}
	var matched []*armed
	var failed []string
	// Viewed under t.mu: a fire writes failed, fireDue and setEnabled
	// next and enabled. LastRun (the job table's lock) is added after.
	views := map[*armed]api.Definition{}
	for _, a := range t.armed {
		if req.Name == "" || matchName(req.Name, a.def.Name) {
			matched = append(matched, a)
			v := t.viewLocked(a, req.Action == api.DefinitionShow)
			v.LastError = a.failed
			views[a] = v
			if a.failed != "" {
				failed = append(failed, fmt.Sprintf("%s did not start at %s: %s", a.def.Name, a.failedAt.Format("2006-01-02 15:04:05"), a.failed))
			}
		}
	}
	sort.Strings(failed)
	out.Problems = append(out.Problems, failed...)
	t.mu.Unlock()
	if req.Name != "" && len(matched) == 0 {
		return nil, errkind.Errorf(errkind.ErrNotFound, "no definition matches %q in %s; 'bgjob definition list' lists them", req.Name, dir)
	}
	if req.Action == api.DefinitionShow && len(matched) > 1 {
		var names []string
		for _, a := range matched {
			names = append(names, a.def.Name)
		}
		sort.Strings(names)
		return nil, errkind.Errorf(errkind.ErrBadRequest, "%q matches %d definitions (%s); name one", req.Name, len(matched), strings.Join(names, ", "))
	}
	for _, a := range matched {
		v := views[a]
		v.LastRun = t.cfg.LastRun(a.typ, a.def.Name)
		out.Definitions = append(out.Definitions, v)
	}
	sort.Slice(out.Definitions, func(i, j int) bool {
		x, y := out.Definitions[i], out.Definitions[j]
		return x.Type < y.Type || x.Type == y.Type && x.Name < y.Name
	})
	return out, nil
}

// sameDir reports whether a and b name one directory: the same clean path,
// or, through symbolic links, the same directory on disk.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// matchName says whether a definition's name matches pattern (path.Match
// syntax), without regard to case and in Unicode normal form C, as job
// names match.
func matchName(pattern, name string) bool {
	ok, err := path.Match(foldName(pattern), foldName(name))
	return err == nil && ok
}

// foldName is name as definition names compare: in NFC, lower case.
func foldName(name string) string { return strings.ToLower(norm.NFC.String(name)) }

// setEnabled turns the triggers of the definitions pattern matches on or
// off, kept across restarts. Turned on, a definition's missed runs count
// from now: while it was off, nothing was missed.
func (t *Triggers) setEnabled(pattern string, on bool) error {
	if pattern == "" {
		return errkind.Errorf(errkind.ErrBadRequest, "name the definition to %s", map[bool]string{true: "enable", false: "disable"}[on])
	}
	state := t.cfg.State
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, a := range t.armed {
		if !matchName(pattern, a.def.Name) {
			continue
		}
		n++
		st, _, err := state.Trigger(a.key)
		if err != nil {
			return err
		}
		st.Enabled = &on
		fileOn := !a.def.Disabled
		st.FileEnabled = &fileOn
		if on && !a.enabled {
			st.Since = now
		}
		if err := state.PutTrigger(a.key, st); err != nil {
			return fmt.Errorf("cannot keep the definition's state: %w", err)
		}
		a.enabled = on
		a.next = time.Time{}
		if on && len(a.scheds) > 0 {
			a.next = nextAfter(a.scheds, now)
		}
	}
	if n == 0 {
		return errkind.Errorf(errkind.ErrNotFound, "no definition matches %q in %s; 'bgjob definition list' lists them", pattern, t.cfg.Dir)
	}
	return nil
}

// viewLocked is a as the CLI shows it, but for LastRun; full adds what it
// runs. t.mu is held.
func (t *Triggers) viewLocked(a *armed, full bool) api.Definition {
	d := a.def
	v := api.Definition{Type: a.typ, Name: d.Name, Source: d.Source, Enabled: a.enabled, Triggers: d.Triggers,
		Keep: int(d.Keep), CatchUp: d.CatchUp, Command: d.Command, Runtime: d.Runtime, RuntimeVersion: d.RuntimeVersion,
		RunAs32: d.RunAs_32, Workdir: d.Workdir}
	if v.Triggers == nil {
		v.Triggers = []string{}
	}
	if !a.next.IsZero() {
		next := a.next
		v.Next = &next
	}
	if full {
		v.Script, v.Args, v.Env = d.Script, d.Args, d.Env
	}
	return v
}

// Idle reports whether the schedule has nothing to fire: no enabled
// definition with triggers, nor one being fired. Until the definitions
// are first read, what they hold is unknown, which is not idle.
func (t *Triggers) Idle() bool {
	select {
	case <-t.ready:
	default:
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.armed {
		if a.firing || a.enabled && len(a.scheds) > 0 {
			return false
		}
	}
	return true
}
