package host

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// The queue: jobs run in id order, each group (start --group) at most its
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

// checkGroup validates a --group, returning what a row keeps ("" for the
// default group).
func checkGroup(g string) (string, error) {
	if g == "" || g == api.DefaultGroup {
		return "", nil
	}
	if !groupName.MatchString(g) {
		return "", errorf(ErrBadRequest, "--group %q: a group's name is up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", g)
	}
	return g, nil
}

// limitLocked is how many of group g's jobs may run at once.
func (h *Host) limitLocked(g string) int {
	if n, ok := h.settings.MaxRunning[g]; ok {
		return n
	}
	if g == api.DefaultGroup {
		return h.opts.MaxRunning
	}
	return 1
}

// Queue shows the queue's groups and clean-up policy, after applying what
// req changes. Only the host's own user and root change them: on a system
// host they bind every user.
func (h *Host) Queue(ctx context.Context, req *api.QueueRequest) (*api.Queue, error) {
	c := h.caller(ctx)
	if req == nil {
		req = &api.QueueRequest{}
	}
	changes := req.MaxRunning != nil || req.KeepFinished != nil || req.KeepFor != nil
	group, err := checkGroup(req.Group)
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
		if !c.Root() && c.UID != h.self.UID {
			return nil, errorf(ErrDenied, "only root changes the system host's queue: its limits and clean-up bind every user")
		}
		// One change at a time, read to stored: two at once must not
		// lose one.
		h.settingsMu.Lock()
		defer h.settingsMu.Unlock()
		h.mu.Lock()
		set := h.settings
		set.MaxRunning = maps.Clone(h.settings.MaxRunning)
		if set.MaxRunning == nil {
			set.MaxRunning = map[string]int{}
		}
		h.mu.Unlock()
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
		// Stored first: a limit the user was told is set must outlive
		// the host.
		if err := h.store.PutSettings(set); err != nil {
			return nil, err
		}
		h.mu.Lock()
		h.settings = set
		h.scheduleLocked() // a higher limit starts jobs now
		h.mu.Unlock()
		h.cleanup()
	}
	return h.queueView(c), nil
}

// queueView is the queue as c sees it: every group with a limit or with
// c's jobs in it, and c's jobs counted.
func (h *Host) queueView(c Caller) *api.Queue {
	h.mu.Lock()
	defer h.mu.Unlock()
	groups := map[string]*api.GroupState{}
	group := func(name string) *api.GroupState {
		g := groups[name]
		if g == nil {
			g = &api.GroupState{Name: name, MaxRunning: h.limitLocked(name)}
			groups[name] = g
		}
		return g
	}
	group(api.DefaultGroup)
	for name := range h.settings.MaxRunning {
		group(name)
	}
	for _, j := range h.jobs {
		if !j.visibleTo(c) || j.row.State.Finished() {
			continue
		}
		g := group(j.row.GroupOf())
		switch j.row.State {
		case api.NotStarted:
			g.Queued++
		case api.Suspended, api.Suspending:
			g.Suspended++
		default:
			g.Running++
		}
	}
	q := &api.Queue{KeepFinished: h.settings.KeepFinished, KeepFor: formatAge(h.settings.KeepFor)}
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
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err == nil && n >= 0 && n < 1e5 {
			return time.Duration(n * 24 * float64(time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
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
// policy no longer keeps: per user, those beyond the KeepFinished started
// last, and those that ended more than KeepFor ago. A job being received is
// left for the next round. A job on several nodes counts once and goes
// with its child jobs.
func (h *Host) cleanup() {
	h.mu.Lock()
	set := h.settings
	if set.KeepFinished == 0 && set.KeepFor == 0 {
		h.mu.Unlock()
		return
	}
	cutoff := time.Now().Add(-set.KeepFor)
	byOwner := map[uint32][]*job{}
	for _, j := range h.jobs {
		if j.row.State.Finished() && !j.unreadable && !j.removed && j.row.Parent == 0 {
			byOwner[j.row.OwnerUID] = append(byOwner[j.row.OwnerUID], j)
		}
	}
	var victims []*job
	for _, js := range byOwner {
		// Newest first, by id: the order jobs were started in, which is
		// what a user counts by (end times of jobs run side by side
		// come in any order).
		slices.SortFunc(js, func(a, b *job) int { return cmp.Compare(b.row.ID, a.row.ID) })
		for i, j := range js {
			old := set.KeepFor > 0 && endOf(&j.row).Before(cutoff)
			over := set.KeepFinished > 0 && i >= set.KeepFinished
			if (old || over) && j.draining == 0 {
				victims = append(victims, j)
			}
		}
	}
	h.mu.Unlock()
	for _, j := range victims {
		if err := h.removeTree(j, true); err != nil {
			h.log.Warn("clean-up: cannot remove a finished job", "job", j.row.ID, "err", err)
		}
	}
	if len(victims) > 0 {
		h.log.Info("clean-up removed finished jobs", "count", len(victims))
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

// cleanupLoop applies the clean-up policy until the host closes.
func (h *Host) cleanupLoop() {
	t := time.NewTicker(cleanupEvery)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.cleanup()
		}
	}
}
