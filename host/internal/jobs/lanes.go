package jobs

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// The queue's lanes. A look of the queue (ScheduleLocked) comes with every
// submit and every job's end, so it must cost what it starts, not what
// waits: sorting and trying every queued job on each look cost 2 ms with
// 10 000 jobs queued behind a group's limit and 45 ms with 100 000, which
// made a long queue slow to add to and quadratic to drain.
//
// So the jobs waiting to run are kept by the slot they wait for, a lane:
// a group's jobs (or a batch's, for a child whose batch is not loaded),
// or the thread jobs that share a process and a throttle limit. Each lane
// holds its jobs in the order the queue starts them (queueOrder), and a
// look takes from each lane only as many as it has free slots; a full
// lane costs the look nothing. Slots are counted per lane (thread jobs
// with different limits share a process's count, and each is held to its
// own limit, as before), so lanes do not compete and taking from each in
// turn starts what one walk of the whole queue in order would.
//
// A job whose start also waits for a time (start --at, --delay, a retry's
// delay) or for other jobs (--after) is gated, and is looked at wherever
// it stands in its lane: its time may be what the queue's timer is to be
// set for, and a dependency that failed fails it at once, not when its
// turn comes. A gated job is looked at when it joins the queue, when its
// time comes (the timed jobs are kept by time, so a look reaches only
// those whose time has come: with 100 000 jobs held until tomorrow,
// checking them all cost each look 5.8 ms) and, if it waits for others,
// when one of them moves or goes (recheck, found through dependents): its
// reason and whether it may run change then and only then. A job whose
// time has come and that waits for no other job waits for its turn like
// any other; one that waits for others stays gated (a dependency
// restarted in place makes it wait again). A job waiting for a slot shows its
// lane's reason (lane.hold, set on each look), as a batch's waiting
// children show their batch's.
//
// The lanes follow the pending set (trackLocked); a change to a queued
// job's priority, time or dependencies is told with retrackLocked. Under
// BGJOB_STRICT_STATES (the tests) every look checks the lanes against the
// pending set.

// lane is the queued jobs that wait for one kind of slot.
type lane struct {
	key  string
	jobs []*Job // in laneOrder: the order the queue starts them
	hold hold   // why they wait when it is for a slot, as of the last look
}

// laneKeyLocked is the lane j waits in: what TakeSlotLocked counts it
// against, and for thread jobs their limit too.
func (t *Table) laneKeyLocked(j *Job) string {
	if j.Row.ThrottleLimit > 0 && !IsBatchChild(&j.Row) {
		return "thread|" + threadKey(&j.Row) + "|" + strconv.Itoa(j.Row.ThrottleLimit)
	}
	g, _ := t.slotGroup(j)
	return "group|" + g
}

// roomLocked is how many more of the jobs in j's lane may start now, and
// why the rest wait once there is none: what noSlotLocked counts.
func (t *Table) roomLocked(j *Job) (int, hold) {
	h := t.noSlotLocked(j)
	return h.limit - h.running, h
}

// laneOrder is queueOrder by the priority a job had when it joined its
// lane (an edit moves it: see retrackLocked).
func laneOrder(a, b *Job) int {
	if c := cmp.Compare(b.lanePriority, a.lanePriority); c != 0 {
		return c
	}
	return cmp.Compare(a.Row.ID, b.Row.ID)
}

// isGated reports whether r's start waits for a time or for other jobs.
// (A job whose time has come and that runs after no job leaves the gated
// jobs at the next look: see checkGatesLocked.)
func isGated(r *store.Row) bool { return len(r.After) > 0 || r.StartAt != nil }

// timeCame reports whether j waits for nothing but a slot now: its time has
// come and it runs after no job.
func timeCame(j *Job, now time.Time) bool {
	return len(j.Row.After) == 0 && j.Row.StartAt != nil && !now.Before(*j.Row.StartAt)
}

// enlaneLocked puts j, which has just joined the pending set, in its
// lane, and among the gated jobs if it is one. A job on Slurm or SSH
// waits in their queue, not this one.
func (t *Table) enlaneLocked(j *Job) {
	if j.Row.Elsewhere() != "" {
		return
	}
	k := t.laneKeyLocked(j)
	l := t.lanes[k]
	if l == nil {
		l = &lane{key: k}
		t.lanes[k] = l
	}
	j.lane, j.lanePriority = l, j.Row.Priority
	if t.loading {
		l.jobs = append(l.jobs, j) // sorted once all are in (sortLanesLocked)
	} else {
		i, _ := slices.BinarySearchFunc(l.jobs, j, laneOrder)
		l.jobs = slices.Insert(l.jobs, i, j)
	}
	if j.gated = isGated(&j.Row); !j.gated {
		return
	}
	t.markLocked(j)
	if at := j.Row.StartAt; at != nil && t.clock.now().Before(*at) {
		j.timedAt = *at
		heap.Push(&t.timed, j)
	}
	if len(j.Row.After) > 0 {
		j.deps = slices.Clone(j.Row.After)
		for _, d := range j.deps {
			if t.dependents[d] == nil {
				t.dependents[d] = map[*Job]struct{}{}
			}
			t.dependents[d][j] = struct{}{}
		}
	}
}

// delaneLocked takes j out of its lane and the gated jobs.
func (t *Table) delaneLocked(j *Job) {
	j.hold = hold{}
	if j.timedIdx != 0 {
		heap.Remove(&t.timed, j.timedIdx-1)
	}
	delete(t.recheck, j)
	for _, d := range j.deps {
		if delete(t.dependents[d], j); len(t.dependents[d]) == 0 {
			delete(t.dependents, d)
		}
	}
	j.gated, j.deps = false, nil
	l := j.lane
	if l == nil {
		return
	}
	j.lane = nil
	i, found := slices.BinarySearchFunc(l.jobs, j, laneOrder)
	if !found {
		i = slices.Index(l.jobs, j) // not reached: ids are unique
	}
	if i == 0 {
		// The head, as a started job is: the rest stay where they are.
		l.jobs[0] = nil
		l.jobs = l.jobs[1:]
	} else if i > 0 {
		l.jobs = slices.Delete(l.jobs, i, i+1)
	}
	if len(l.jobs) == 0 {
		delete(t.lanes, l.key)
	}
}

// sortLanesLocked puts every lane in order (after PublishLocked filled
// them).
func (t *Table) sortLanesLocked() {
	for _, l := range t.lanes {
		slices.SortFunc(l.jobs, laneOrder)
	}
}

// retrackLocked moves j, if it is queued, to where its row now puts it:
// its place in its lane (priority) and whether it is gated (a time, or
// dependencies). Whoever changes those of a queued job calls it.
func (t *Table) retrackLocked(j *Job) {
	if j.lane == nil && !j.gated {
		return
	}
	t.delaneLocked(j)
	t.enlaneLocked(j)
}

// moveTellsLocked marks for the next look the gated jobs that j's move (or
// its removal) may concern: those waiting for j, and j itself (resumed in
// the queue, say). A move outside a look brings one soon: some are
// followed by none (a Slurm or SSH child's end), and the jobs waiting for
// it would wait for an unrelated one.
func (t *Table) moveTellsLocked(j *Job) {
	if ds := t.dependents[j.Row.ID]; len(ds) > 0 {
		for d := range ds {
			t.markLocked(d)
		}
		if t.begun && !t.looking && !t.loading {
			t.armLocked(t.clock.now())
		}
	}
	if j.gated && len(j.deps) > 0 {
		t.markLocked(j)
	}
}

// markLocked marks gated job j for a look (recheck); one marked during a
// look's gate checks is looked at in that look too (fresh).
func (t *Table) markLocked(j *Job) {
	t.recheck[j] = struct{}{}
	if t.gating {
		t.fresh = append(t.fresh, j)
	}
}

// checkGatesLocked is a look's first part: the gated jobs that joined the
// queue, whose time came, or that wait for others that moved are checked
// (their reasons set; those whose dependency failed, failed). A job whose
// time has come and that waits for no other job leaves the gated. The
// queue's timer is set for the first time still to come.
//
// A job that cannot be looked at now (suspended in the queue, or a retry
// whose last runtime is still being released) stays marked until it can:
// nothing marks it again when its runtime goes, and a job left unlooked
// at would keep its old reason.
func (t *Table) checkGatesLocked(s *scheduling) {
	for len(t.timed) > 0 && !s.now.Before(t.timed[0].timedAt) {
		t.recheck[heap.Pop(&t.timed).(*Job)] = struct{}{}
	}
	// A job failed here marks the jobs waiting for it, which must be
	// looked at in this look too (one that runs after it whatever its end
	// may start now, in its turn): a range over the map would reach them
	// only by chance. So the marked jobs are taken once, and then those
	// each round marks (fresh), until a round marks none: a chain of
	// failures costs its length, not its length times the marked jobs
	// that cannot be looked at now (suspended ones).
	var work []*Job
	for j := range t.recheck {
		if startable(j) {
			work = append(work, j)
		}
	}
	t.gating = true
	for len(work) > 0 {
		t.fresh = nil
		for _, j := range work {
			if _, still := t.recheck[j]; !still || !startable(j) {
				continue
			}
			delete(t.recheck, j)
			t.gateLocked(j, s)
			if j.timedIdx == 0 && len(j.Row.After) == 0 {
				j.gated = false
			}
		}
		work = t.fresh
	}
	t.gating, t.fresh = false, nil
	if len(t.timed) > 0 {
		if at := t.timed[0].timedAt; s.next.IsZero() || at.Before(s.next) {
			s.next = at
		}
	}
}

// timedJobs is the queued jobs whose time has not come, a heap by that
// time (container/heap), each job knowing its place (timedIdx).
type timedJobs []*Job

func (h timedJobs) Len() int { return len(h) }

func (h timedJobs) Less(a, b int) bool {
	if c := h[a].timedAt.Compare(h[b].timedAt); c != 0 {
		return c < 0
	}
	return h[a].Row.ID < h[b].Row.ID
}

func (h timedJobs) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].timedIdx, h[b].timedIdx = a+1, b+1
}

func (h *timedJobs) Push(x any) {
	j := x.(*Job)
	j.timedIdx = len(*h) + 1
	*h = append(*h, j)
}

func (h *timedJobs) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.timedIdx = 0
	return j
}

// takeFromLanesLocked is what a look may start from the lanes: each
// lane's first jobs that nothing else holds (their gates were checked
// just before), as many as it has free slots, in queueOrder.
func (t *Table) takeFromLanesLocked() []*Job {
	var starts []*Job
	for _, l := range t.lanes {
		room, _ := t.roomLocked(l.jobs[0])
		for _, j := range l.jobs {
			if room <= 0 {
				break
			}
			if startable(j) && (!j.gated || j.hold.kind == holdNone) {
				starts = append(starts, j)
				room--
			}
		}
	}
	slices.SortFunc(starts, queueOrder)
	return starts
}

// holdLanesLocked sets each lane's reason for the jobs it holds: its limit
// if it is full.
func (t *Table) holdLanesLocked() {
	for _, l := range t.lanes {
		l.hold = hold{}
		if room, h := t.roomLocked(l.jobs[0]); room <= 0 {
			l.hold = h
		}
	}
}

// startable reports whether j is a queued job the queue may start: one
// not suspended in the queue, not on its way to a runtime, not elsewhere.
func startable(j *Job) bool {
	return j.Row.State == api.NotStarted && j.RT == nil && j.Row.Elsewhere() == ""
}

// checkLanesLocked panics if the lanes and gated jobs are not what the
// pending set makes them: a change to a queued job that was not told
// (retrackLocked). Only under BGJOB_STRICT_STATES: it costs the queue.
func (t *Table) checkLanesLocked() {
	laned := 0
	for j := range t.pending {
		if j.Row.Elsewhere() != "" {
			if j.lane != nil || j.gated {
				panic(fmt.Sprintf("job %d, elsewhere, is in the queue's lanes", j.Row.ID))
			}
			continue
		}
		laned++
		switch {
		case j.lane == nil || t.lanes[j.lane.key] != j.lane:
			panic(fmt.Sprintf("queued job %d is in no lane", j.Row.ID))
		case j.lane.key != t.laneKeyLocked(j):
			panic(fmt.Sprintf("queued job %d is in lane %q, not %q", j.Row.ID, j.lane.key, t.laneKeyLocked(j)))
		case j.lanePriority != j.Row.Priority:
			panic(fmt.Sprintf("queued job %d's priority changed to %d without retrackLocked", j.Row.ID, j.Row.Priority))
		case j.gated != isGated(&j.Row) && !(isGated(&j.Row) && timeCame(j, t.clock.now())),
			!slices.Equal(j.deps, j.Row.After) && j.gated:
			panic(fmt.Sprintf("queued job %d's time or dependencies changed without retrackLocked", j.Row.ID))
		}
		t.checkHoldLocked(j)
	}
	n := 0
	for _, l := range t.lanes {
		n += len(l.jobs)
		if !slices.IsSortedFunc(l.jobs, laneOrder) {
			panic(fmt.Sprintf("lane %q is out of order", l.key))
		}
	}
	if n != laned || len(t.timed) > laned {
		panic(fmt.Sprintf("the lanes hold %d jobs (%d timed) for %d queued", n, len(t.timed), laned))
	}
}

// checkHoldLocked panics if queued job j, which waits for other jobs and
// not (or no longer) for a time, is not waiting as its dependencies say
// (a move of one of them that did not mark it for a look), nor marked for
// the next look.
func (t *Table) checkHoldLocked(j *Job) {
	if _, marked := t.recheck[j]; marked || !j.gated || len(j.deps) == 0 || !startable(j) {
		return
	}
	if at := j.Row.StartAt; at != nil && t.clock.now().Before(*at) {
		return
	}
	ready, wait, reason := t.depsLocked(j)
	switch {
	case reason != "":
		panic(fmt.Sprintf("queued job %d should have failed: %s", j.Row.ID, reason))
	case !ready && j.hold != wait:
		panic(fmt.Sprintf("queued job %d waits as %+v; its dependencies say %+v", j.Row.ID, j.hold, wait))
	case ready && j.hold.kind == holdAfter:
		panic(fmt.Sprintf("queued job %d still waits for job %d, which has finished", j.Row.ID, j.hold.dep))
	}
}
