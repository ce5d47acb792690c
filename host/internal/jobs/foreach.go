package jobs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// A batch (start --foreach, PowerShell's ForEach-Object -Parallel -AsJob)
// is a parent job with a child job per input item. The children are
// ordinary rows the queue starts, each with the parent's payload and its
// item as "$1" and $BGJOB_ITEM; at most the batch's throttle limit of them
// run at once, counted per parent (not against a queue group). The parent
// runs nothing: its state follows its children's (settleBatchLocked), as a
// PowerShell parent job's does.
//
// The whole batch is created in one transaction of the job table, one sync
// for the parent and every child, so a start of 500 items costs about what
// a start of one does; and since the children are rows, a host killed
// mid-batch starts those not begun when it comes back, and takes back those
// running (each runs once).

// BatchType is a batch parent's PSJobTypeName, as PowerShell names the job
// ForEach-Object -Parallel -AsJob returns; its children have their own
// type (ThreadJob when the runtime can share a process, else or with
// --processes BackgroundJob).
const BatchType = "PSTaskJob"

// MaxBatchItems bounds the children of one batch: each is a row in the
// table and in memory.
const MaxBatchItems = 100000

// IsBatchParent reports whether r is a batch's parent; IsBatchChild one of
// its children.
func IsBatchParent(r *store.Row) bool { return r.Batch > 0 && r.Parent == 0 }
func IsBatchChild(r *store.Row) bool  { return r.Batch > 0 && r.Parent != 0 }

// batchKey is what a batch's running children are counted under, in the
// queue's running and slot maps: no group's name has a '/'.
func batchKey(r *store.Row) string { return "foreach/" + strconv.FormatUint(r.Parent, 10) }

// CheckItems refuses items a batch cannot take: none, too many, an empty
// one, or one a row cannot keep exactly.
func CheckItems(items []string) error {
	switch {
	case len(items) == 0:
		return errorf(ErrBadRequest, "--foreach: the input has no items (only blank lines, or nothing); no job was started")
	case len(items) > MaxBatchItems:
		return errorf(ErrBadRequest, "--foreach: %d items; at most %d go in one batch: split the input", len(items), MaxBatchItems)
	}
	size := 0
	for i, it := range items {
		size += len(it)
		if strings.TrimSpace(it) == "" || strings.ContainsAny(it, "\n\x00") {
			return errorf(ErrBadRequest, "--foreach: item %d is blank or holds a newline or NUL; each item is one non-blank line", i+1)
		}
		if !utf8.ValidString(it) {
			return errorf(ErrBadRequest, "--foreach: item %d (%q) is not UTF-8, which a job's row keeps", i+1, it)
		}
	}
	if size > api.MaxInput {
		return errorf(ErrBadRequest, "--foreach: the items are %d bytes; at most %d (64 MiB) are accepted", size, api.MaxInput)
	}
	return nil
}

// CreateBatch stores a batch, made from r (a job's row as a start makes it,
// with Batch set) and its payload: a parent named name (or Job<Id>) and a
// child per item, named NAME.1, NAME.2, ... in the items' order, all in
// one transaction; then it queues the children. It returns the parent.
func (t *Table) CreateBatch(r *store.Row, payload *sdk.Job, name string, items []string) (*api.Job, error) {
	if err := CheckItems(items); err != nil {
		return nil, err
	}
	data, inline, release, err := t.prepareCreate(r, payload)
	if err != nil {
		return nil, err
	}
	defer release()
	// The parent runs nothing: what makes a job wait or retry is each
	// child's, and its type is the batch's.
	parent := *r
	parent.PSJobTypeName, parent.ThrottleLimit = BatchType, 0
	parent.After, parent.AfterAnyState, parent.StartAt, parent.Timeout, parent.Retries, parent.RetryDelay = nil, false, nil, 0, 0, 0
	kids := make([]*store.Row, len(items))
	for i, it := range items {
		c := *r
		c.InstanceID, c.Item, c.OnEnd = api.NewInstanceID(), it, ""
		c.After = slices.Clone(r.After)
		kids[i] = &c
	}
	err = t.store.CreateBatch(&parent, kids, func(first uint64) []byte {
		parent.ID, parent.Name = first, name
		if name == "" {
			parent.Name = fmt.Sprintf("Job%d", first)
		}
		parent.ChildJobs = make([]uint64, len(kids))
		for i, c := range kids {
			c.ID, c.Parent, c.Name = first+1+uint64(i), first, fmt.Sprintf("%s.%d", parent.Name, i+1)
			parent.ChildJobs[i] = c.ID
		}
		if inline {
			return data
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot record the job: %w", err)
	}
	if err := t.payloadFile(parent.ID, data, inline, append([]uint64{parent.ID}, parent.ChildJobs...)...); err != nil {
		return nil, err
	}
	t.mu.Lock()
	pj := t.addLocked(&parent)
	pj.Children = make([]*Job, len(kids))
	for i, c := range kids {
		pj.Children[i] = t.addLocked(c)
	}
	t.ScheduleLocked()
	view := pj.ViewLocked()
	t.mu.Unlock()
	return view, nil
}

// batchPayload is a child's payload: its parent's, with its item as the
// first argument and as $BGJOB_ITEM.
func batchPayload(job *sdk.Job, r *store.Row) {
	job.Args = append([]string{r.Item}, job.Args...)
	job.Env = append(slices.DeleteFunc(job.Env, func(kv string) bool { return strings.HasPrefix(kv, "BGJOB_ITEM=") }), "BGJOB_ITEM="+r.Item)
}

// kidQueue is what the queue keeps of a batch, so that a child's start
// or end costs the same in a batch of 100,000 children as in one of 5.
// (When each look at the queue went over every waiting child, and each
// child's move over all its siblings, a batch of 20,000 took 5 ms a child
// against 2 ms for one of 1,000.)
type kidQueue struct {
	// queued counts the children waiting to run (trackLocked); none
	// before Children[next] is.
	queued, next int
	// done counts the finished children, once counted (settleBatchLocked
	// counts them all; followParentLocked follows each move).
	done    int
	counted bool
	// hold is why the waiting children wait when they have no reason of
	// their own: the batch runs its throttle limit, or what the first
	// waiting child waits for (they share their start time and the jobs
	// they run after).
	hold hold
}

// kidQueue returns batch parent p's queue, made on first use.
func (p *Job) kidQueue() *kidQueue {
	if p.kids == nil {
		p.kids = &kidQueue{}
	}
	return p.kids
}

// batchOfLocked returns j's batch parent, if j is a batch's child whose
// parent is in the table, and remembers it in j.
func (t *Table) batchOfLocked(j *Job) *Job {
	if j.batch == nil && IsBatchChild(&j.Row) {
		if p := t.jobs[j.Row.Parent]; p != nil && IsBatchParent(&p.Row) {
			j.batch = p
		}
	}
	return j.batch
}

// kidIndex is child j's place in p.Children: the children's ids follow
// their parent's in order. 0 (the start) if j is not where its id says,
// as while the batch is being put together.
func kidIndex(p *Job, j *Job) int {
	i := int(j.Row.ID) - int(p.Row.ID) - 1
	if i >= 0 && i < len(p.Children) && p.Children[i] == j {
		return i
	}
	return 0
}

// followParentLocked brings the state of j's parent, if j is a batch's
// child, in line with its children's, now that j has moved. It looks at
// all the children only when the parent's state may change with j's move
// (its first child begins, its last ends, one goes back to waiting when
// none has finished), not on every move.
func (t *Table) followParentLocked(j *Job) {
	p := t.batchOfLocked(j)
	if p == nil || p.Removed || p.Row.State.Finished() {
		return
	}
	q := p.kidQueue()
	if !q.counted {
		t.settleBatchLocked(p)
		return
	}
	if fin := j.Row.State.Finished(); fin != j.kidDone {
		j.kidDone = fin
		if fin {
			q.done++
		} else {
			q.done--
		}
	}
	waiting := kidWaiting(j)
	switch {
	case q.done == len(p.Children),
		p.Row.State == api.NotStarted && !waiting,
		p.Row.State != api.NotStarted && waiting && q.done == 0:
		t.settleBatchLocked(p)
	}
}

// kidWaiting reports whether child k has not begun: queued, or suspended
// in the queue.
func kidWaiting(k *Job) bool {
	s := k.Row.State
	return s == api.NotStarted || s == api.Suspended && k.Row.SuspendedFrom != api.Running
}

// settleBatchLocked sets batch parent p's state from its children's, as
// PowerShell does for a parent job: NotStarted until a child begins, then
// Running until every child has finished; then Failed if one failed, else
// Stopped if one was stopped, else Completed. A change is written. It
// counts the finished children afresh for followParentLocked.
func (t *Table) settleBatchLocked(p *Job) {
	if p.Row.State.Finished() || len(p.Children) == 0 {
		return // a finished parent stays so: its children do not restart
	}
	var begun, done, failed, stopped int
	var firstFailed *Job
	for _, k := range p.Children {
		k.kidDone = k.Row.State.Finished()
		switch s := k.Row.State; {
		case s == api.Completed:
			done++
		case s == api.Failed:
			done++
			failed++
			if firstFailed == nil {
				firstFailed = k
			}
		case s == api.Stopped:
			done++
			stopped++
		case kidWaiting(k):
		default:
			begun++
		}
	}
	q := p.kidQueue()
	q.done, q.counted = done, true
	n := len(p.Children)
	switch {
	case done == n && failed > 0:
		reason := fmt.Sprintf("%d of %d child jobs failed; the first, job %d (%s): %s", failed, n, firstFailed.Row.ID, firstFailed.Row.Name, firstFailed.Row.StateReason)
		t.FinishLocked(p, api.Failed, reason, nil)
	case done == n && stopped > 0:
		t.FinishLocked(p, api.Stopped, fmt.Sprintf("%d of %d child jobs were stopped", stopped, n), nil)
	case done == n:
		t.FinishLocked(p, api.Completed, "", nil)
	case begun+done > 0:
		if p.Row.State == api.Running {
			return
		}
		t.MoveLocked(p, api.Running)
		if p.Row.PSBeginTime == nil {
			now := time.Now()
			p.Row.PSBeginTime = &now
		}
	default:
		if p.Row.State == api.NotStarted {
			return
		}
		t.MoveLocked(p, api.NotStarted)
	}
	t.Go(func() { t.Persist(p) })
}

// settleBatchesLocked settles every batch parent among js (a host that
// starts may find children that moved after their parent was written).
func (t *Table) settleBatchesLocked(js map[uint64]*Job) {
	for _, j := range js {
		if IsBatchParent(&j.Row) {
			t.settleBatchLocked(j)
		}
	}
}

// SplitBatchesLocked takes the batch parents out of js, putting their
// unfinished children in their place (each once): what acts on a parent
// acts on its children (stop).
func SplitBatchesLocked(js []*Job) (rest, parents []*Job) {
	seen := map[*Job]bool{}
	for _, j := range js {
		if !IsBatchParent(&j.Row) {
			if !seen[j] {
				seen[j] = true
				rest = append(rest, j)
			}
			continue
		}
		parents = append(parents, j)
		for _, k := range j.Children {
			if !seen[k] && !k.Row.State.Finished() {
				seen[k] = true
				rest = append(rest, k)
			}
		}
	}
	return rest, parents
}

// scheduleBatchLocked starts batch p's waiting children while the batch
// has room, lowest id (the items' order) first. It starts from the first
// child still waiting and stops at the limit, so a look costs the
// children it starts, not the batch's size; the children left waiting
// show the batch's reason (kidQueue.hold) unless they have their own.
func (t *Table) scheduleBatchLocked(p *Job, s *scheduling) {
	q := p.kids
	if q == nil || q.queued == 0 {
		return
	}
	for q.next < len(p.Children) && !p.Children[q.next].queued {
		q.next++
	}
	q.hold = hold{}
	for _, k := range p.Children[q.next:] {
		if !k.queued || k.Row.State != api.NotStarted || k.RT != nil || k.Row.Elsewhere() != "" {
			continue // suspended in the queue, or on its way to run
		}
		key, limit := t.slotGroup(k)
		if t.running[key] >= limit {
			q.hold = hold{kind: holdBatch, running: t.running[key], limit: limit}
			return
		}
		if t.tryStartLocked(k, s) {
			continue
		}
		// What one child waits for, the rest do too, but for a retry's
		// own delay.
		if h := k.hold; h.kind == holdAfter || h.kind == holdAt && k.Row.Attempt == 0 {
			q.hold = h
			return
		}
	}
}
