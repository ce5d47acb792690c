package jobs

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// The queue: jobs run by priority (higher first), then in id order, each group (start --group) at most its
// limit at once, the rest waiting as NotStarted rows; thread jobs count
// against their throttle limit instead. The limits and the clean-up policy
// are settings `bgjob queue` changes while the host runs; they are kept in
// the job table, so a restarted host (or one killed) keeps them.
//
// A group without a limit of its own runs one job at a time, as a new
// pueue group or a tsp queue does: a group is usually made to serialise
// something. The default group's limit, until one is set, is the host's
// Options.MaxRunning (-max-running, BGJOB_MAX_RUNNING).

// groupName is what a group may be called: something a shell passes
// without quoting and a table shows in one column.
var groupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckGroup validates a --group, returning what a row keeps ("" for the
// default group).
func CheckGroup(g string) (string, error) {
	if g == "" || g == api.DefaultGroup {
		return "", nil
	}
	if !groupName.MatchString(g) {
		return "", errorf(ErrBadRequest, "--group %q: a group's name is up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", g)
	}
	return g, nil
}

// limitLocked is how many of group g's jobs may run at once.
func (t *Table) limitLocked(g string) int {
	if n, ok := t.settings.MaxRunning[g]; ok {
		return n
	}
	if g == api.DefaultGroup {
		return t.cfg.MaxRunning
	}
	return 1
}

// Queue shows the queue's groups and clean-up policy, after applying what
// req changes. Only the host's own user and root change them: on a system
// host they bind every user.
func (t *Table) Queue(c Caller, req *api.QueueRequest) (*api.Queue, error) {
	if req == nil {
		req = &api.QueueRequest{}
	}
	changes := req.MaxRunning != nil || req.KeepFinished != nil || req.KeepFor != nil || req.OnEnd != nil
	group, err := CheckGroup(req.Group)
	if err != nil {
		return nil, err
	}
	if group == "" {
		group = api.DefaultGroup
	}
	if req.Group != "" && req.MaxRunning == nil && changes {
		return nil, errorf(ErrBadRequest, "--group goes with --max-running: the clean-up policy is the host's, not a group's")
	}
	if changes {
		if !c.Root() && c.UID != t.self.UID {
			return nil, errorf(ErrDenied, "only root changes the system host's queue: its limits and clean-up bind every user")
		}
		// One change at a time, read to stored: two at once must not
		// lose one.
		t.settingsMu.Lock()
		defer t.settingsMu.Unlock()
		t.mu.Lock()
		set := t.settings
		set.MaxRunning = maps.Clone(t.settings.MaxRunning)
		if set.MaxRunning == nil {
			set.MaxRunning = map[string]int{}
		}
		t.mu.Unlock()
		if req.MaxRunning != nil {
			if *req.MaxRunning < 0 {
				return nil, errorf(ErrBadRequest, "--max-running %d: give 0 (the group's jobs wait) or more", *req.MaxRunning)
			}
			set.MaxRunning[group] = *req.MaxRunning
		}
		if req.KeepFinished != nil {
			if *req.KeepFinished < 0 {
				return nil, errorf(ErrBadRequest, "--keep-finished %d: give 0 (keep all) or more", *req.KeepFinished)
			}
			set.KeepFinished = *req.KeepFinished
		}
		if req.KeepFor != nil {
			d, err := parseAge(*req.KeepFor)
			if err != nil {
				return nil, err
			}
			set.KeepFor = d
		}
		if req.OnEnd != nil {
			set.OnEnd = *req.OnEnd
		}
		// Stored first: a limit the user was told is set must outlive
		// the host.
		if err := t.store.PutSettings(set); err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.settings = set
		t.ScheduleLocked() // a higher limit starts jobs now
		t.mu.Unlock()
		t.Cleanup()
	}
	q := t.queueView(c)
	if req.Group != "" && !changes {
		// queue --group G: that group alone (with its limit, jobs or not).
		q.Groups = slices.DeleteFunc(q.Groups, func(g api.GroupState) bool { return g.Name != group })
		if len(q.Groups) == 0 {
			t.mu.Lock()
			q.Groups = []api.GroupState{{Name: group, MaxRunning: t.limitLocked(group)}}
			t.mu.Unlock()
		}
	}
	return q, nil
}

// queueView is the queue as c sees it: every group with a limit or with
// c's jobs in it, and c's jobs counted.
func (t *Table) queueView(c Caller) *api.Queue {
	t.mu.Lock()
	defer t.mu.Unlock()
	groups := map[string]*api.GroupState{}
	group := func(name string) *api.GroupState {
		g := groups[name]
		if g == nil {
			g = &api.GroupState{Name: name, MaxRunning: t.limitLocked(name)}
			groups[name] = g
		}
		return g
	}
	group(api.DefaultGroup)
	for name := range t.settings.MaxRunning {
		group(name)
	}
	for _, j := range t.jobs {
		if !j.VisibleTo(c) || j.Row.State.Finished() {
			continue
		}
		// Only what counts against the group's limit is counted: not a
		// batch's parent (it runs nothing) nor its children, nor thread
		// jobs, which their throttle limits hold (laneKeyLocked), or a
		// group would show more running than its limit.
		if !countsInGroup(j) {
			continue
		}
		g := group(j.Row.GroupOf())
		switch j.Row.State {
		case api.NotStarted:
			g.Queued++
		case api.Suspended, api.Suspending:
			g.Suspended++
		default:
			g.Running++
		}
	}
	q := &api.Queue{KeepFinished: t.settings.KeepFinished, KeepFor: formatAge(t.settings.KeepFor), OnEnd: t.settings.OnEnd}
	for _, g := range groups {
		q.Groups = append(q.Groups, *g)
	}
	sort.Slice(q.Groups, func(a, b int) bool {
		// The default group first, then by name.
		if (q.Groups[a].Name == api.DefaultGroup) != (q.Groups[b].Name == api.DefaultGroup) {
			return q.Groups[a].Name == api.DefaultGroup
		}
		return q.Groups[a].Name < q.Groups[b].Name
	})
	return q
}

// parseAge reads --keep-for: a Go duration (36h, 90m) or a number of days
// (7d); 0 or empty keeps finished jobs for ever.
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if d, err := api.ParseDuration(s); err == nil {
		return d, nil
	}
	return 0, errorf(ErrBadRequest, "--keep-for %q: give an age such as 7d, 36h or 90m (0: for ever)", s)
}

// formatAge shows an age as parseAge reads it back.
func formatAge(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// cleanup removes, with their records, the finished jobs the clean-up
// policy no longer keeps: per user, those beyond the KeepFinished that
// ended last, and those that ended more than KeepFor ago. A job being received is
// left for the next round. A job on several nodes counts once and goes
// with its child jobs.
func (t *Table) Cleanup() {
	t.mu.Lock()
	set := t.settings
	if set.KeepFinished == 0 && set.KeepFor == 0 {
		t.mu.Unlock()
		return
	}
	cutoff := time.Now().Add(-set.KeepFor)
	byOwner := map[uint32][]*Job{}
	for _, j := range t.jobs {
		if j.Row.State.Finished() && !j.Unreadable && !j.Removed && j.Row.Parent == 0 {
			byOwner[j.Row.OwnerUID] = append(byOwner[j.Row.OwnerUID], j)
		}
	}
	var victims []*Job
	for _, js := range byOwner {
		// Those that ended last first (ties by id), as task-spooler
		// drops the jobs that finished longest ago: kept by the order
		// they started in, a long job ending after shorter ones started
		// later was the oldest, removed by the look its own end made,
		// before anyone had read it.
		slices.SortFunc(js, func(a, b *Job) int {
			if c := endOf(&b.Row).Compare(endOf(&a.Row)); c != 0 {
				return c
			}
			return cmp.Compare(b.Row.ID, a.Row.ID)
		})
		for i, j := range js {
			old := set.KeepFor > 0 && endOf(&j.Row).Before(cutoff)
			over := set.KeepFinished > 0 && i >= set.KeepFinished
			if (old || over) && j.Draining == 0 {
				victims = append(victims, j)
			}
		}
	}
	t.mu.Unlock()
	for _, j := range victims {
		if err := t.RemoveTree(j, true); err != nil {
			t.log.Warn("clean-up: cannot remove a finished job", "job", j.Row.ID, "err", err)
		}
	}
	if len(victims) > 0 {
		t.log.Info("clean-up removed finished jobs", "count", len(victims))
	}
}

func endOf(r *store.Row) time.Time {
	if r.PSEndTime != nil {
		return *r.PSEndTime
	}
	return r.Created
}

// cleanupEvery is how often a host with a KeepFor policy looks for jobs
// that have grown too old (a job's end also triggers a look).
const cleanupEvery = time.Minute

// CleanupLoop applies the clean-up policy until the table closes.
func (t *Table) CleanupLoop() {
	tick := time.NewTicker(cleanupEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			t.Cleanup()
		}
	}
}

// ScheduleLocked starts queued jobs while there is room: the gated jobs'
// times and dependencies checked first, then each lane's first jobs, as
// many as it has room for (see lanes.go), then the batches' children.
func (t *Table) ScheduleLocked() {
	if t.ctx.Err() != nil {
		return
	}
	defer func(was bool) { t.looking = was }(t.looking)
	t.looking = true
	s := scheduling{now: t.clock.now()}
	t.checkGatesLocked(&s)
	for _, j := range t.takeFromLanesLocked() {
		t.tryStartLocked(j, &s)
	}
	t.holdLanesLocked()
	for p := range t.batches {
		t.scheduleBatchLocked(p, &s)
	}
	t.armLocked(s.next)
	if s.settled {
		// The jobs that just failed may be what others wait for.
		t.ScheduleLocked()
	} else if strict() {
		t.checkLanesLocked()
	}
}

// scheduling is what one look of the queue (ScheduleLocked) gathers: its
// time, the earliest start time still to come, and whether a job failed
// without running (its dependents may now be settled too).
type scheduling struct {
	now, next time.Time
	settled   bool
}

// tryStartLocked starts queued job j if nothing keeps it waiting, and
// otherwise records why it waits; it reports whether j started.
func (t *Table) tryStartLocked(j *Job, s *scheduling) bool {
	if !t.gateLocked(j, s) {
		return false
	}
	if !t.TakeSlotLocked(j) {
		if j.lane != nil {
			j.hold = hold{} // its lane's reason (holdLanesLocked)
		} else {
			j.hold = t.noSlotLocked(j)
		}
		return false
	}
	j.hold = hold{}
	t.MoveLocked(j, api.Running)
	startingLocked(j)
	begin := time.Now()
	j.Row.PSBeginTime = &begin
	j.Launching = true
	j.NotifyLocked()
	t.Go(func() { t.cfg.Run(j) })
	return true
}

// gateLocked reports whether queued job j's time has come and its
// dependencies let it run; if not, it records why j waits, or fails j if
// a dependency ended in a way that means it never will.
func (t *Table) gateLocked(j *Job, s *scheduling) bool {
	j.hold = hold{}
	if at := j.Row.StartAt; at != nil && s.now.Before(*at) {
		j.hold = hold{kind: holdAt, at: *at}
		if s.next.IsZero() || at.Before(s.next) {
			s.next = *at
		}
		return false
	}
	if len(j.Row.After) > 0 {
		ready, wait, reason := t.depsLocked(j)
		if reason != "" {
			t.FinishLocked(j, api.Failed, reason, nil)
			t.Go(func() { t.Persist(j) })
			s.settled = true
			return false
		}
		if !ready {
			j.hold = wait
			return false
		}
	}
	return true
}

// queueOrder is the order the queue starts jobs in: higher priority
// first (start --priority), then by id, the order they were started in.
func queueOrder(a, b *Job) int {
	if c := cmp.Compare(b.Row.Priority, a.Row.Priority); c != 0 {
		return c
	}
	return cmp.Compare(a.Row.ID, b.Row.ID)
}

// threadKey names the thread jobs that share a process.
func threadKey(r *store.Row) string {
	uid := uint32(0)
	if r.RunAs != nil {
		uid = r.RunAs.UID
	}
	return fmt.Sprintf("%s|%s|%d", r.Spec.Runtime, r.Spec.SHA256, uid)
}

// slotGroup is what j counts against in the running and slot maps, and
// how many of it may run: a batch's child its batch (start --foreach
// --throttle-limit), any other job its group.
// countsInGroup reports whether j takes a slot of its queue group: not a
// batch's parent (it runs nothing) or child (its batch's throttle limit
// holds it), nor a thread job (its throttle limit among the thread jobs
// sharing its process does).
func countsInGroup(j *Job) bool {
	return !IsBatchParent(&j.Row) && !IsBatchChild(&j.Row) && j.Row.ThrottleLimit <= 0
}

func (t *Table) slotGroup(j *Job) (string, int) {
	if IsBatchChild(&j.Row) {
		if j.slotKey == "" {
			j.slotKey = batchKey(&j.Row) // made once: the queue asks often
		}
		return j.slotKey, j.Row.Batch
	}
	g := j.Row.GroupOf()
	return g, t.limitLocked(g)
}

// takeSlotLocked takes a slot for j if one is free.
func (t *Table) TakeSlotLocked(j *Job) bool {
	if j.Row.ThrottleLimit > 0 && !IsBatchChild(&j.Row) {
		k := threadKey(&j.Row)
		if t.threads[k] >= j.Row.ThrottleLimit {
			return false
		}
		t.threads[k]++
		return true
	}
	g, limit := t.slotGroup(j)
	if t.running[g] >= limit {
		return false
	}
	t.running[g]++
	t.takeGroupSlotLocked(j, g)
	return true
}

// takeGroupSlotLocked gives j the lowest slot of group g no running job
// holds (0..limit-1 while the limit holds), or the one it held already (a
// job a previous host started).
func (t *Table) takeGroupSlotLocked(j *Job, g string) {
	used := t.slots[g]
	if used == nil {
		used = map[int]bool{}
		t.slots[g] = used
	}
	if !j.SlotHeld || used[j.Slot] {
		j.Slot = 0
		for used[j.Slot] {
			j.Slot++
		}
	}
	used[j.Slot], j.SlotHeld = true, true
}

// noSlotLocked is why j, which TakeSlotLocked just refused, waits: its
// group, or the thread jobs sharing its process, are at their limit. Its
// counts are what TakeSlotLocked compares, whether or not it refused
// (roomLocked).
func (t *Table) noSlotLocked(j *Job) hold {
	if IsBatchChild(&j.Row) {
		g, limit := t.slotGroup(j)
		return hold{kind: holdBatch, running: t.running[g], limit: limit}
	}
	if j.Row.ThrottleLimit > 0 {
		return hold{kind: holdThrottle, running: t.threads[threadKey(&j.Row)], limit: j.Row.ThrottleLimit}
	}
	g := j.Row.GroupOf()
	return hold{kind: holdGroup, group: g, running: t.running[g], limit: t.limitLocked(g)}
}

// freeSlotLocked gives j's slot back.
func (t *Table) FreeSlotLocked(j *Job) {
	if j.Row.ThrottleLimit > 0 && !IsBatchChild(&j.Row) {
		k := threadKey(&j.Row)
		if t.threads[k]--; t.threads[k] <= 0 {
			delete(t.threads, k)
		}
		return
	}
	g, _ := t.slotGroup(j)
	if t.running[g]--; t.running[g] <= 0 {
		delete(t.running, g)
	}
	if j.SlotHeld {
		delete(t.slots[g], j.Slot)
		if len(t.slots[g]) == 0 {
			delete(t.slots, g)
		}
		j.SlotHeld = false
	}
}

// HoldSlotLocked counts j as running in its group (or among its thread
// jobs) even past the limit: a job the previous host left running holds
// its slot whatever the limits say now.
func (t *Table) HoldSlotLocked(j *Job) {
	if t.TakeSlotLocked(j) {
		return
	}
	if j.Row.ThrottleLimit > 0 && !IsBatchChild(&j.Row) {
		t.threads[threadKey(&j.Row)]++
	} else {
		g, _ := t.slotGroup(j)
		t.running[g]++
		t.takeGroupSlotLocked(j, g)
	}
}

// Start begins the table's work once it is loaded: the queue runs what it
// can, and the clean-up policy applies now and every cleanupEvery.
func (t *Table) Start() {
	t.mu.Lock()
	t.begun = true
	t.ScheduleLocked()
	t.mu.Unlock()
	t.Cleanup()
	t.Go(t.CleanupLoop)
}
