package jobs

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// newStoredTable is a table over a job table on disk, whose jobs' runs
// are given to run.
func newStoredTable(t testing.TB, run func(*Job)) *Table {
	t.Helper()
	cfg := storedConfig(t)
	cfg.MaxRunning, cfg.Run = 1, run
	tab := New(cfg)
	t.Cleanup(tab.Close) // before the store's clean-up: it runs first
	return tab
}

// storedConfig is a table's configuration with a store, a journal and a
// home of their own in a directory of t's, closed when t ends.
func storedConfig(t testing.TB) Config {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	jl, err := store.OpenJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		jl.Close()
		st.Close()
	})
	return Config{Home: dir, Store: st, Journal: jl, Cursors: store.OpenCursors(jl, "")}
}

// newBatch is a table holding one batch of items, at most limit children
// running at once, whose runs do nothing; it returns the table and the
// batch's parent.
func newBatch(t testing.TB, limit int, items []string) (*Table, *Job) {
	t.Helper()
	tab := newStoredTable(t, func(*Job) {})
	r := NewRow(Caller{}, "u", nil, store.Spec{}, api.Runtime{}, sdk.BackgroundJob, "true", "/")
	r.Batch = limit
	v, err := tab.CreateBatch(r, &sdk.Job{Script: "true"}, "", items)
	if err != nil {
		t.Fatal(err)
	}
	return tab, tab.jobs[v.ID]
}

// numbered is n items, "0" to n-1.
func numbered(n int) []string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	return items
}

// A batch's parent follows its children, as a PowerShell parent job does.
func TestBatchParentState(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kids   []api.State
		want   api.State
		reason string
	}{
		{"none begun", []api.State{api.NotStarted, api.NotStarted}, api.NotStarted, ""},
		{"one running", []api.State{api.Running, api.NotStarted}, api.Running, ""},
		{"one done, one waiting", []api.State{api.Completed, api.NotStarted}, api.Running, ""},
		{"one stopping", []api.State{api.Stopping, api.Completed}, api.Running, ""},
		{"all completed", []api.State{api.Completed, api.Completed}, api.Completed, ""},
		{"one failed", []api.State{api.Completed, api.Failed, api.Stopped}, api.Failed, "1 of 3 child jobs failed; the first, job 3 (B.2): why"},
		{"one stopped", []api.State{api.Completed, api.Stopped}, api.Stopped, "1 of 2 child jobs were stopped"},
		{"all stopped before they began", []api.State{api.Stopped, api.Stopped}, api.Stopped, "2 of 2 child jobs were stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newStoredTable(t, func(*Job) {})
			p := NewJob(&store.Row{Job: api.Job{ID: 1, Name: "B", State: api.NotStarted}, Batch: 2})
			loaded := map[uint64]*Job{1: p}
			for i, s := range tc.kids {
				id := uint64(i + 2)
				k := NewJob(&store.Row{Job: api.Job{ID: id, Name: fmt.Sprintf("B.%d", i+1), State: s, StateReason: "why"}, Parent: 1, Batch: 2})
				p.Children = append(p.Children, k)
				loaded[id] = k
			}
			tab.mu.Lock()
			tab.PublishLocked(loaded) // settles the parent, as a host that loads the table does
			got, reason := p.Row.State, p.Row.StateReason
			tab.mu.Unlock()
			if got != tc.want || reason != tc.reason {
				t.Errorf("the parent is %s (%q); want %s (%q)", got, reason, tc.want, tc.reason)
			}
		})
	}
}

// A batch is one parent and a child per item, written at once; the queue
// runs at most its throttle limit of them, in the items' order, and the
// parent is never run.
func TestCreateBatchThrottle(t *testing.T) {
	var mu sync.Mutex
	var ran []uint64
	tab := newStoredTable(t, func(j *Job) {
		mu.Lock()
		ran = append(ran, j.Row.ID) // the row's id never changes
		mu.Unlock()
	})
	r := NewRow(Caller{}, "u", nil, store.Spec{}, api.Runtime{}, sdk.BackgroundJob, "echo", "/")
	r.Batch = 2
	items := []string{"a", "b", "c", "d", "e"}
	v, err := tab.CreateBatch(r, &sdk.Job{Script: "echo", Args: []string{"x"}}, "", items)
	if err != nil {
		t.Fatal(err)
	}
	if v.PSJobTypeName != BatchType || v.Name != "Job1" || fmt.Sprint(v.ChildJobs) != "[2 3 4 5 6]" {
		t.Fatalf("the parent: %+v", v)
	}
	tab.mu.Lock()
	running := func() (ids []uint64) {
		for _, k := range tab.jobs[1].Children {
			if k.Row.State == api.Running {
				ids = append(ids, k.Row.ID)
			}
		}
		return ids
	}
	if got := fmt.Sprint(running()); got != "[2 3]" {
		t.Fatalf("running %s, want the first two children", got)
	}
	if p := tab.jobs[1]; p.Row.State != api.Running {
		t.Errorf("the parent is %s with children running", p.Row.State)
	}
	if reason, note := tab.jobs[4].waiting(); note != "throttled" || !strings.Contains(reason, "2 of 2") {
		t.Errorf("a waiting child says %q (%q)", reason, note)
	}
	// Each end makes room for the next child, in order.
	for _, want := range []string{"[3 4]", "[4 5]", "[5 6]", "[6]", "[]"} {
		k := tab.jobs[running()[0]]
		tab.FinishLocked(k, api.Completed, "", nil)
		tab.FreeSlotLocked(k)
		tab.ScheduleLocked()
		if got := fmt.Sprint(running()); got != want {
			t.Fatalf("running %s, want %s", got, want)
		}
	}
	if p := tab.jobs[1]; p.Row.State != api.Completed {
		t.Errorf("the parent is %s with every child completed", p.Row.State)
	}
	tab.mu.Unlock()
	tab.wg.Wait()
	mu.Lock()
	if len(ran) != 5 || slices.Contains(ran, 1) {
		t.Errorf("ran %v: the children, never the parent", ran)
	}
	mu.Unlock()
	// A child's payload is the parent's, with its item first and as
	// $BGJOB_ITEM, and its own id and name. The parent's is read once
	// and kept for the children: each gets a copy, so asking again, in
	// any order, gives the same.
	for _, id := range []uint64{4, 2, 6, 4} {
		r := tab.jobs[id].Row
		job, err := tab.Payload(&r)
		if err != nil {
			t.Fatal(err)
		}
		item := items[id-2]
		if fmt.Sprint(job.Args) != "["+item+" x]" || !slices.Equal(job.Env, []string{"BGJOB_ITEM=" + item}) || job.Id != id || job.Name != r.Name || job.Script != "echo" {
			t.Errorf("child %d's payload: id %d, name %q, script %q, args %v, env %v", id, job.Id, job.Name, job.Script, job.Args, job.Env)
		}
		job.Args[0], job.Env[0] = "changed", "changed" // the runner's own copy
	}
	// Another batch's children get its payload, not the one kept.
	r2 := NewRow(Caller{}, "u", nil, store.Spec{}, api.Runtime{}, sdk.BackgroundJob, "echo", "/")
	r2.Batch = 1
	v2, err := tab.CreateBatch(r2, &sdk.Job{Script: "printf"}, "", []string{"z"})
	if err != nil {
		t.Fatal(err)
	}
	tab.mu.Lock()
	kr := tab.jobs[v2.ChildJobs[0]].Row
	tab.mu.Unlock()
	job, err := tab.Payload(&kr)
	if err != nil {
		t.Fatal(err)
	}
	if job.Script != "printf" || fmt.Sprint(job.Args) != "[z]" {
		t.Errorf("the second batch's child got script %q, args %v", job.Script, job.Args)
	}
}

func TestCheckItems(t *testing.T) {
	for _, tc := range []struct {
		items []string
		err   string
	}{
		{[]string{"a", "b c"}, ""},
		{nil, "has no items"},
		{[]string{"a", "  "}, "item 2 is blank"},
		{[]string{"a\nb"}, "holds a newline"},
		{[]string{"\xff"}, "not UTF-8"},
	} {
		err := CheckItems(tc.items)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckItems(%q) = %v, want %q", tc.items, err, tc.err)
		}
	}
}

// The queue keeps a batch's waiting children and its count of finished
// ones as the children move, instead of looking at all of them on every
// move (kidQueue). Whatever moves the children make, in whatever order,
// what it keeps must be what a look at every child would find: the
// waiting children, the parent's state, and a full batch (never a free
// slot while a child waits to start).
func TestBatchQueueFollowsMoves(t *testing.T) {
	const n, limit = 24, 3
	tab, p := newBatch(t, limit, numbered(n))
	tab.mu.Lock()
	defer tab.mu.Unlock()
	rnd := rand.New(rand.NewPCG(1, 2))
	for step := 0; step < 2000 && !p.Row.State.Finished(); step++ {
		k := p.Children[rnd.IntN(n)]
		var what string
		switch s := k.Row.State; {
		case s == api.Running && rnd.IntN(4) == 0:
			what = "sent back to wait (a retry)"
			tab.MoveLocked(k, api.NotStarted)
			tab.FreeSlotLocked(k)
		case s == api.Running:
			what = "ended"
			tab.FinishLocked(k, []api.State{api.Completed, api.Completed, api.Failed, api.Stopped}[rnd.IntN(4)], "", nil)
			tab.FreeSlotLocked(k)
		case s == api.NotStarted && rnd.IntN(3) == 0:
			what = "suspended in the queue"
			tab.MoveLocked(k, api.Suspended)
			k.Row.SuspendedFrom = api.NotStarted
		case s == api.Suspended:
			what = "resumed"
			tab.MoveLocked(k, api.NotStarted)
			k.Row.SuspendedFrom = ""
		default:
			continue
		}
		tab.ScheduleLocked()
		// What a look at every child finds.
		var running, waiting, done int
		queued := 0
		for _, c := range p.Children {
			switch s := c.Row.State; {
			case s == api.Running:
				running++
			case s == api.NotStarted:
				waiting++
			case s.Finished():
				done++
			}
			if (c.Row.State == api.NotStarted || c.Row.State == api.Suspended) != c.queued {
				t.Fatalf("step %d (job %d %s): job %d is %s, queued %v", step, k.Row.ID, what, c.Row.ID, c.Row.State, c.queued)
			}
			if c.queued {
				queued++
			}
		}
		if q := p.kids; q.queued != queued || q.done != done {
			t.Fatalf("step %d (job %d %s): the batch counts %d waiting and %d done; there are %d and %d", step, k.Row.ID, what, q.queued, q.done, queued, done)
		}
		if running > limit || running < limit && waiting > 0 {
			t.Fatalf("step %d (job %d %s): %d running and %d waiting to start, limit %d", step, k.Row.ID, what, running, waiting, limit)
		}
		want := api.Running
		if done == n {
			want = p.Row.State // settled: checked below
		} else if running == 0 && done == 0 {
			want = api.NotStarted
		}
		if p.Row.State != want {
			t.Fatalf("step %d (job %d %s): the parent is %s, want %s", step, k.Row.ID, what, p.Row.State, want)
		}
	}
	if !p.Row.State.Finished() {
		t.Fatalf("the batch did not finish: %s", p.Row.State)
	}
}

// A batch whose children have all gone back to waiting (retries, say)
// before any finished is NotStarted again, as a look at every child says.
func TestBatchParentBackToWaiting(t *testing.T) {
	tab, p := newBatch(t, 2, []string{"a", "b"})
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if p.Row.State != api.Running {
		t.Fatalf("the parent is %s with both children started", p.Row.State)
	}
	for _, k := range p.Children {
		tab.MoveLocked(k, api.Suspended) // suspended, then put back in the queue
		k.Row.SuspendedFrom = api.NotStarted
	}
	if p.Row.State != api.NotStarted {
		t.Errorf("the parent is %s with both children waiting", p.Row.State)
	}
}

// What a batch's child costs the queue (its end, its slot freed, the next
// child started), in batches of growing size: it should not grow with
// the batch (go test -bench BatchChild ./host/internal/jobs/).
func BenchmarkBatchChild(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tab, p := newBatch(b, 5, numbered(n))
			tab.mu.Lock()
			defer tab.mu.Unlock()
			endInTurn(b, tab, p.Children)
		})
	}
}

// A batch whose children run after a job that fails while they are
// suspended in the queue (not looked at), and is then removed before they
// are resumed, fails them at the removal: once it is gone nothing would
// say that it failed, and a missing dependency counts as done.
func TestBatchAfterARemovedFailure(t *testing.T) {
	tab := newStoredTable(t, func(*Job) {})
	mk := func() *store.Row {
		return NewRow(Caller{}, "u", nil, store.Spec{}, api.Runtime{}, sdk.BackgroundJob, "true", "/")
	}
	av, err := tab.Create(mk(), &sdk.Job{Script: "true"}, "A")
	if err != nil {
		t.Fatal(err)
	}
	r := mk()
	r.Batch, r.After = 2, []uint64{av.ID}
	bv, err := tab.CreateBatch(r, &sdk.Job{Script: "true"}, "B", numbered(3))
	if err != nil {
		t.Fatal(err)
	}
	// And a batch that waits for another job, which stays.
	cv, err := tab.Create(mk(), &sdk.Job{Script: "true"}, "C")
	if err != nil {
		t.Fatal(err)
	}
	r = mk()
	r.Batch, r.After = 2, []uint64{cv.ID}
	ov, err := tab.CreateBatch(r, &sdk.Job{Script: "true"}, "O", numbered(2))
	if err != nil {
		t.Fatal(err)
	}
	tab.Lock()
	a, b, o := tab.jobs[av.ID], tab.jobs[bv.ID], tab.jobs[ov.ID]
	for _, k := range append(slices.Clone(b.Children), o.Children...) {
		tab.MoveLocked(k, api.Suspended)
		k.Row.SuspendedFrom = api.NotStarted
	}
	tab.FinishLocked(a, api.Failed, "", nil)
	tab.ScheduleLocked()
	for _, k := range b.Children {
		if k.Row.State != api.Suspended {
			t.Fatalf("child %d, suspended, is %s before its dependency is removed", k.Row.ID, k.Row.State)
		}
	}
	tab.Unlock()
	if err := tab.Remove(a); err != nil {
		t.Fatal(err)
	}
	tab.Lock()
	defer tab.Unlock()
	for _, k := range b.Children {
		if k.Row.State != api.Failed || !strings.Contains(k.Row.StateReason, "not run: job") {
			t.Errorf("child %d, after job %d which failed and was removed: %s (%q)", k.Row.ID, av.ID, k.Row.State, k.Row.StateReason)
		}
	}
	for _, k := range o.Children {
		if k.Row.State != api.Suspended {
			t.Errorf("child %d, after job %d which is still there: %s (%q)", k.Row.ID, cv.ID, k.Row.State, k.Row.StateReason)
		}
	}
}

// A batch counts against no queue group (its throttle limit holds its
// children), so the queue's counts of its group leave it out: a default
// group limited to 1 does not show 3 running and 3 queued.
func TestBatchNotCountedInGroup(t *testing.T) {
	tab, _ := newBatch(t, 2, numbered(5))
	q := tab.queueView(Caller{})
	for _, g := range q.Groups {
		if g.Running != 0 || g.Queued != 0 || g.Suspended != 0 {
			t.Errorf("group %s: %d running, %d queued, %d suspended; want none (the batch's children count against its throttle limit)", g.Name, g.Running, g.Queued, g.Suspended)
		}
	}
}
