package host

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
)

// attachRecord is what the host keeps in its journal for a running job's
// runtime (store.SaveAttach): how the launcher finds the process again, and
// the job's begin time, which the job table learns only when the job ends.
type attachRecord struct {
	launch.Attach
	Begin *time.Time `json:"begin,omitempty"`
}

// recover loads the job table and puts each job back to work.
//
// Every job is loaded and in its final state before the table is published
// and before any relay starts: a reattached job that ends at once schedules
// the queue, which must not find a running job still marked NotStarted (it
// would run it a second time) or a job whose log is not open yet.
func (h *Host) recover() error {
	rows, bad, err := h.store.All()
	if err != nil {
		return fmt.Errorf("cannot read the job table: %w", err)
	}
	cursors, err := h.cursors.All()
	if err != nil {
		return fmt.Errorf("cannot read the job cursors: %w", err)
	}
	type reattached struct {
		j     *job
		p     launch.Process
		after uint64
	}
	var (
		relays  []reattached
		held    []*job // suspended, their processes alive
		changed []*store.Row
		settled []uint64 // finished jobs whose cursors the rows now cover
		jobs    = make(map[uint64]*job, len(rows))
	)
	for _, b := range bad {
		// A row that cannot be read stays listed, failed, so that the user
		// sees it and can remove it; it is never rewritten.
		// Whose it was is in the damaged row: root and the host's own
		// user see it.
		j := newJob(&store.Row{Job: api.Job{ID: b.ID, Name: fmt.Sprintf("Job%d", b.ID), PSJobTypeName: "BackgroundJob",
			Location: "localhost", ChildJobs: []uint64{}, Owner: h.self.Name}, OwnerUID: h.self.UID})
		h.finishLocked(j, api.Failed, fmt.Sprintf("the job table's row for this job is damaged (%v); remove it with 'bgjob remove --force %d'", b.Err, b.ID), nil)
		j.unreadable = true
		jobs[b.ID] = j
		h.log.Error("a job's row is damaged", "job", b.ID, "err", b.Err)
	}
	for _, r := range rows {
		if r.Owner == "" {
			// A row from before owners: the host's user's, as it was.
			r.OwnerUID, r.Owner = h.self.UID, h.self.Name
		}
		j := newJob(r)
		jobs[r.ID] = j
		cur, hasCursor := cursors[r.ID]
		delete(cursors, r.ID)
		if r.State.Finished() {
			// A receive may have delivered more than the row says.
			if hasCursor && cur.ReadOffset > j.row.ReadOffset && cur.ReadOffset <= j.row.LogSize {
				j.row.ReadOffset = cur.ReadOffset
				changed = append(changed, &j.row)
			}
			if hasCursor {
				settled = append(settled, r.ID)
			}
			continue
		}
		// The log may hold more than the row says, and a torn tail. The
		// cursor says how far it held whole records lately, so only what
		// follows is read.
		from := recordlog.End{Size: j.row.LogSize, LastSeq: j.row.LastSeq}
		if hasCursor && cur.LogSize >= from.Size {
			from = recordlog.End{Size: cur.LogSize, LastSeq: cur.LastSeq}
		}
		end, err := recordlog.ScanFrom(h.logPath(r.ID), from)
		if err != nil && from.Size > 0 {
			// The checkpoint does not fit the log: read it all.
			end, err = recordlog.Scan(h.logPath(r.ID))
		}
		if err != nil {
			// Damage the job cannot recover from: it fails, with what it
			// has up to the damage, and its runtime is ended; the log is
			// left as it is, and the other jobs serve on.
			h.log.Error("a job's record log is damaged", "job", r.ID, "err", err)
			j.row.LogSize, j.row.LastSeq = end.Size, end.LastSeq
			h.finishLocked(j, api.Failed, fmt.Sprintf("the job's records are damaged (%v); the records before the damage are kept, and the job's runtime was ended", err), nil)
			h.endStray(r.ID)
			changed = append(changed, &j.row)
			settled = append(settled, r.ID)
			continue
		}
		j.row.LogSize = end.Size
		// Records a receive took straight from the relay are numbered but
		// not logged: the runtime must not send them again.
		j.row.LastSeq = max(end.LastSeq, cur.LastSeq)
		if cur.ReadOffset > j.row.ReadOffset && cur.ReadOffset <= end.Size {
			j.row.ReadOffset = cur.ReadOffset
		}
		if j.log, err = recordlog.Open(h.logPath(r.ID), end.Size); err != nil {
			return fmt.Errorf("job %d: %w", r.ID, err)
		}
		if r.Slurm != nil {
			// Slurm runs it; the poller takes it from here.
			continue
		}
		var att attachRecord
		hasAttach := h.journal.LoadAttach(r.ID, &att) == nil
		suspended := r.State == api.Suspended || r.State == api.Suspending
		switch {
		case suspended && r.SuspendedFrom != api.Running && r.State == api.Suspended:
			// Suspended in the queue: it stays so.
		case suspended && hasAttach && process.Alive(att.Pid):
			// Its processes are stopped and cannot answer a reattach;
			// resume reattaches. It keeps its slot meanwhile.
			j.row.State, j.row.SuspendedFrom = api.Suspended, api.Running
			j.row.PSBeginTime = att.Begin
			j.detached = &att
			held = append(held, j)
		case !hasAttach && r.State == api.NotStarted:
			// Queued, or its runtime never got the job (a runtime starts
			// a job only once its host has recorded how to reattach).
		case !hasAttach:
			h.finishLocked(j, api.Failed, "the host stopped before the job's runtime had started", nil)
			changed = append(changed, &j.row)
		default:
			j.row.State = api.Running
			j.row.PSBeginTime = att.Begin
			p, err := h.launcher.Reattach(&att.Attach, h.runtimeLogPath(r.ID))
			if err != nil {
				h.finishLocked(j, api.Failed, fmt.Sprintf("the host stopped while the job ran, and its runtime could not be reattached (%v); the records it sent before (up to number %d) are kept", err, j.row.LastSeq), nil)
				changed = append(changed, &j.row)
				settled = append(settled, r.ID)
				continue
			}
			h.log.Info("reattached to a running job", "job", r.ID, "pid", p.Pid(), "after", j.row.LastSeq)
			j.rt = p
			relays = append(relays, reattached{j, p, j.row.LastSeq})
		}
	}
	// A job on several nodes: each parent's children, in id order.
	for _, r := range rows {
		if p := jobs[r.Parent]; r.Parent != 0 && p != nil {
			p.children = append(p.children, jobs[r.ID])
		}
	}
	for _, j := range jobs {
		sortJobs(j.children)
		if len(j.children) > 0 && len(j.row.ChildJobs) != len(j.children) {
			// A host that died while submitting wrote the children
			// before the parent's list of them.
			j.row.ChildJobs = j.row.ChildJobs[:0]
			for _, k := range j.children {
				j.row.ChildJobs = append(j.row.ChildJobs, k.row.ID)
			}
		}
	}
	h.sweep(jobs)
	if len(changed) > 0 {
		if err := h.store.Put(changed...); err != nil {
			return fmt.Errorf("cannot update the job table: %w", err)
		}
	}
	for _, id := range settled {
		h.cursors.Drop(id)
	}
	for id := range cursors { // of jobs no longer in the table
		h.cursors.Drop(id)
	}
	for _, id := range h.journal.Attached() {
		if j := jobs[id]; j == nil || j.row.State.Finished() {
			h.journal.DropAttach(id)
		}
	}
	// What a host killed mid-job left in the journal is settled now: keep
	// the live values only.
	if err := h.journal.Compact(); err != nil {
		h.log.Warn("cannot compact the journal", "err", err)
	}
	h.mu.Lock()
	h.jobs = jobs
	for _, j := range jobs {
		h.indexLocked(j)
	}
	for _, rl := range relays {
		held = append(held, rl.j)
	}
	for _, j := range held {
		if !h.takeSlotLocked(j) {
			// More running than the limits allow now: counted anyway.
			if j.row.ThrottleLimit > 0 {
				h.threads[threadKey(&j.row)]++
			} else {
				h.running[j.row.GroupOf()]++
			}
		}
	}
	h.mu.Unlock()
	for _, rl := range relays {
		// The runtime has the job already; the payload is only how the
		// protocol names it, so one that cannot be read does no harm.
		payload, err := h.payload(&rl.j.row)
		if err != nil {
			payload = &sdk.Job{Id: rl.j.row.ID}
		}
		h.goAsync(func() { h.relay(rl.j, rl.p, payload, rl.after) })
	}
	return nil
}

// endStray ends the runtime of a job the host cannot take back.
func (h *Host) endStray(id uint64) {
	var att attachRecord
	if h.journal.LoadAttach(id, &att) != nil {
		return
	}
	if p, err := h.launcher.Reattach(&att.Attach, h.runtimeLogPath(id)); err == nil {
		p.Release()
	}
}

// sweep removes what a host that was killed left behind: spares nobody
// took, their logs, and socket directories of jobs that are finished or
// gone. What a running job's process uses (its attach record says so)
// stays.
func (h *Host) sweep(jobs map[uint64]*job) {
	inUse := map[string]bool{}
	for id, j := range jobs {
		if j.row.State.Finished() {
			continue
		}
		var att attachRecord
		if h.journal.LoadAttach(id, &att) == nil {
			inUse[att.SockDir] = true
		}
	}
	if s, ok := h.launcher.(launch.Sweeper); ok {
		s.Sweep(func(dir string) bool { return inUse[dir] })
	}
	logs, _ := filepath.Glob(filepath.Join(h.jobsDir(), "spare*.runtime.log"))
	for _, l := range logs {
		os.Remove(l)
	}
}
