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
)

// attachRecord is what the host keeps beside a running job's runtime socket
// (see store.AttachFile): how the launcher finds the process again, and
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
	rows, err := h.store.All()
	if err != nil {
		return fmt.Errorf("cannot read the job table: %w", err)
	}
	type reattached struct {
		j     *job
		p     launch.Process
		after uint64
	}
	var (
		relays  []reattached
		changed []*store.Row
		jobs    = make(map[uint64]*job, len(rows))
	)
	for _, r := range rows {
		j := newJob(r)
		jobs[r.ID] = j
		if r.State.Finished() {
			continue
		}
		// The log may hold more than the row says, and a torn tail.
		end, err := recordlog.Scan(h.logPath(r.ID))
		if err != nil {
			return fmt.Errorf("job %d: %w", r.ID, err)
		}
		j.row.LogSize, j.row.LastSeq = end.Size, end.LastSeq
		if j.log, err = recordlog.Open(h.logPath(r.ID), end.Size); err != nil {
			return fmt.Errorf("job %d: %w", r.ID, err)
		}
		var att attachRecord
		hasAttach := store.LoadAttach(h.sockDir(r.ID), &att) == nil
		switch {
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
				h.finishLocked(j, api.Failed, fmt.Sprintf("the host stopped while the job ran, and its runtime could not be reattached (%v); the records it sent before (up to number %d) are kept", err, end.LastSeq), nil)
				changed = append(changed, &j.row)
				continue
			}
			h.log.Info("reattached to a running job", "job", r.ID, "pid", p.Pid(), "after", end.LastSeq)
			j.rt = p
			relays = append(relays, reattached{j, p, end.LastSeq})
		}
	}
	h.sweep(jobs)
	if len(changed) > 0 {
		if err := h.store.Put(changed...); err != nil {
			return fmt.Errorf("cannot update the job table: %w", err)
		}
	}
	h.mu.Lock()
	h.jobs = jobs
	h.running += len(relays)
	h.mu.Unlock()
	for _, rl := range relays {
		h.goAsync(func() { h.relay(rl.j, rl.p, rl.after) })
	}
	return nil
}

// sweep removes what a host that was killed left behind: directories of
// spares nobody took, their logs, and socket directories of jobs that are
// finished or gone. A spare's directory that a running job uses (its attach
// record says so) stays.
func (h *Host) sweep(jobs map[uint64]*job) {
	inUse := map[string]bool{}
	for id, j := range jobs {
		if j.row.State.Finished() {
			continue
		}
		inUse[h.sockDir(id)] = true
		var att attachRecord
		if store.LoadAttach(h.sockDir(id), &att) == nil {
			inUse[att.SockDir] = true
		}
	}
	entries, _ := os.ReadDir(h.runDir())
	for _, e := range entries {
		if dir := filepath.Join(h.runDir(), e.Name()); !inUse[dir] {
			os.RemoveAll(dir)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(h.jobsDir(), "spare*.runtime.log"))
	for _, l := range logs {
		os.Remove(l)
	}
}
