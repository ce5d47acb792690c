package host

import (
	"context"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk"
	"github.com/robfig/cron/v3"
	"golang.org/x/text/unicode/norm"
)

// The host fires the triggers of the stored definitions in its user's
// definition directory, as PowerShell's task scheduler fires scheduled
// jobs. Which files hold definitions, and what they say, is the business
// of the job types that list them (sdk.Lister, ScheduledJob's HCL files);
// the host watches the directory, asks those types again when it changes,
// and starts a definition's job at each of its cron times, exactly as
// `bgjob start --type T --definition-name N` would.

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

// triggers is the host's schedule.
type triggers struct {
	dir   string        // the definition directory
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
}

func triggerKey(typ, name string) string { return typ + "/" + name }

// startTriggers reads the definitions in dir and runs the trigger loop
// until the host closes.
func (h *Host) startTriggers(dir string) {
	h.trig = &triggers{dir: dir, armed: map[string]*armed{}, ready: make(chan struct{})}
	h.goAsync(func() {
		// Read beside the host's start, which need not wait for the
		// plugins; a definition command waits for it instead.
		h.reloadDefinitions(true)
		close(h.trig.ready)
		tick := time.NewTicker(triggerTick)
		defer tick.Stop()
		lastLook := time.Now()
		for {
			select {
			case <-h.ctx.Done():
				return
			case now := <-tick.C:
				if now.Sub(lastLook) >= watchDirTick {
					lastLook = now
					if fingerprint(dir) != h.trig.fingerprint() {
						h.reloadDefinitions(false)
					}
				}
				h.fireDue(now)
			}
		}
	})
}

func (t *triggers) fingerprint() string {
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

// listers are the installed job types that list definitions, each with the
// plugin that serves it.
func (h *Host) listers() ([]*catalog.Entry, []string, error) {
	types, err := h.catalog.Types()
	if err != nil {
		return nil, nil, err
	}
	var entries []*catalog.Entry
	var names []string
	for _, t := range types {
		e, info, err := h.catalog.ResolveType(t, runtime.GOOS, runtime.GOARCH)
		if err != nil || !info.Lists {
			continue
		}
		entries, names = append(entries, e), append(names, t)
	}
	return entries, names, nil
}

// reloadDefinitions reads the definitions again and arms their triggers.
// At the host's start (first), a definition asking for it makes up one run
// it missed while no host ran.
func (h *Host) reloadDefinitions(first bool) {
	t := h.trig
	print := fingerprint(t.dir)
	var defs []*armed
	var problems []string
	if print != "" {
		entries, names, err := h.listers()
		if err != nil {
			problems = append(problems, fmt.Sprintf("cannot list the job types: %v", err))
		}
		for i, e := range entries {
			typ := names[i]
			var got []*sdk.Definition
			var probs []string
			err := h.withTypePlugin(h.ctx, e, nil, "/", func(c protocol.TypeConn) error {
				var err error
				got, probs, err = c.Definitions(h.ctx, typ, t.dir)
				return err
			})
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: cannot list its definitions: %v", typ, err))
				continue
			}
			problems = append(problems, probs...)
			for _, d := range got {
				a, err := arm(typ, d)
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
		if prev := old[a.key]; prev != nil {
			a.firing = prev.firing
		}
		a.enabled = !a.def.Disabled
		st, found, err := h.store.Trigger(a.key)
		if err != nil {
			h.log.Warn("cannot read a definition's schedule state", "definition", a.key, "err", err)
		}
		if st.Enabled != nil {
			a.enabled = *st.Enabled
		}
		if !found {
			st.Since = now
			if err := h.store.PutTrigger(a.key, st); err != nil {
				h.log.Warn("cannot keep a definition's schedule state", "definition", a.key, "err", err)
			}
		}
		if a.enabled && len(a.scheds) > 0 {
			a.next = nextAfter(a.scheds, now)
			if first && a.def.CatchUp && !nextAfter(a.scheds, st.Since).After(now) {
				due = append(due, a)
			}
		}
		t.armed[a.key] = a
	}
	t.problems, t.print, t.loadedAt = problems, print, now
	t.mu.Unlock()
	for _, p := range problems {
		h.log.Warn("a definition cannot be used", "problem", p)
	}
	for _, a := range due {
		h.log.Info("making up a run missed while no host ran", "definition", a.key)
		h.fire(a, now)
	}
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
func (h *Host) fireDue(now time.Time) {
	t := h.trig
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
		h.fire(a, now)
	}
}

// fire starts a's job, unless its previous start is still being made; the
// start happens beside the loop (it resolves the definition in a plugin).
func (h *Host) fire(a *armed, at time.Time) {
	t := h.trig
	t.mu.Lock()
	if a.firing {
		t.mu.Unlock()
		return
	}
	a.firing = true
	t.mu.Unlock()
	h.goAsync(func() {
		defer func() {
			t.mu.Lock()
			a.firing = false
			t.mu.Unlock()
		}()
		st, _, _ := h.store.Trigger(a.key)
		st.Since = at
		if err := h.store.PutTrigger(a.key, st); err != nil {
			h.log.Warn("cannot keep a definition's schedule state", "definition", a.key, "err", err)
		}
		req, err := h.triggeredRequest(a)
		if err == nil {
			_, err = h.Start(WithCaller(h.ctx, h.self), req)
		}
		if err != nil && h.ctx.Err() == nil {
			h.log.Error("a triggered definition did not start", "definition", a.key, "err", err)
			return
		}
		h.log.Info("started a triggered definition", "definition", a.key)
	})
}

// triggeredRequest is the start request a trigger makes: the definition
// by its exact name, as the host's user, in their home (as the host was
// told it: $HOME), with a login's environment rather than the host's, as
// cron gives.
func (h *Host) triggeredRequest(a *armed) (*api.StartRequest, error) {
	acct, err := lookupAccount(h.self.Name)
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
	return &api.StartRequest{Type: a.typ, DefinitionName: escapePattern(a.def.Name), DefinitionPath: h.trig.dir,
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

// Definitions answers `bgjob definition ...`. The definitions are the
// host's user's, so on a system host only root may use them.
func (h *Host) Definitions(ctx context.Context, req *api.DefinitionRequest) (*api.Definitions, error) {
	c := h.caller(ctx)
	if c.UID != h.self.UID && !c.Root() {
		return nil, errorf(ErrBadRequest, "this system host schedules only its own user's definitions; run your own host for yours (bgjob without --system and BGJOB_SOCKET)")
	}
	t := h.trig
	if t == nil {
		return nil, errorf(ErrBadRequest, "this host schedules no definitions (it was started without a definition directory)")
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch req.Action {
	case api.DefinitionList, api.DefinitionShow:
	case api.DefinitionReload:
		h.reloadDefinitions(false)
	case api.DefinitionEnable, api.DefinitionDisable:
		if err := h.setEnabled(req.Name, req.Action == api.DefinitionEnable); err != nil {
			return nil, err
		}
	default:
		return nil, errorf(ErrBadRequest, "unknown definition action %q; use list, show, enable, disable or reload", req.Action)
	}
	t.mu.Lock()
	out := &api.Definitions{Dir: t.dir, Problems: append([]string{}, t.problems...)}
	var matched []*armed
	for _, a := range t.armed {
		if req.Name == "" || matchName(req.Name, a.def.Name) {
			matched = append(matched, a)
		}
	}
	t.mu.Unlock()
	if req.Name != "" && len(matched) == 0 {
		return nil, errorf(ErrNotFound, "no definition matches %q in %s; 'bgjob definition list' lists them", req.Name, t.dir)
	}
	if req.Action == api.DefinitionShow && len(matched) > 1 {
		var names []string
		for _, a := range matched {
			names = append(names, a.def.Name)
		}
		sort.Strings(names)
		return nil, errorf(ErrBadRequest, "%q matches %d definitions (%s); name one", req.Name, len(matched), strings.Join(names, ", "))
	}
	for _, a := range matched {
		out.Definitions = append(out.Definitions, h.definitionView(a, req.Action == api.DefinitionShow))
	}
	sort.Slice(out.Definitions, func(i, j int) bool {
		x, y := out.Definitions[i], out.Definitions[j]
		return x.Type < y.Type || x.Type == y.Type && x.Name < y.Name
	})
	return out, nil
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
func (h *Host) setEnabled(pattern string, on bool) error {
	if pattern == "" {
		return errorf(ErrBadRequest, "name the definition to %s", map[bool]string{true: "enable", false: "disable"}[on])
	}
	t := h.trig
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, a := range t.armed {
		if !matchName(pattern, a.def.Name) {
			continue
		}
		n++
		st, _, err := h.store.Trigger(a.key)
		if err != nil {
			return err
		}
		st.Enabled = &on
		if on && !a.enabled {
			st.Since = now
		}
		if err := h.store.PutTrigger(a.key, st); err != nil {
			return fmt.Errorf("cannot keep the definition's state: %w", err)
		}
		a.enabled = on
		a.next = time.Time{}
		if on && len(a.scheds) > 0 {
			a.next = nextAfter(a.scheds, now)
		}
	}
	if n == 0 {
		return errorf(ErrNotFound, "no definition matches %q in %s; 'bgjob definition list' lists them", pattern, t.dir)
	}
	return nil
}

// definitionView is a as the CLI shows it; full adds what it runs.
func (h *Host) definitionView(a *armed, full bool) api.Definition {
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
	v.LastRun = h.lastRun(a.typ, d.Name)
	if full {
		v.Script, v.Args, v.Env = d.Script, d.Args, d.Env
	}
	return v
}

// lastRun is when the host's user's newest run of a definition started.
func (h *Host) lastRun(typ, name string) *time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var newest *job
	for _, j := range h.jobs {
		if j.row.OwnerUID == h.self.UID && j.row.PSJobTypeName == typ && j.row.Definition == name &&
			(newest == nil || j.row.ID > newest.row.ID) {
			newest = j
		}
	}
	if newest == nil {
		return nil
	}
	if newest.row.PSBeginTime != nil {
		t := *newest.row.PSBeginTime
		return &t
	}
	t := newest.row.Created
	return &t
}
