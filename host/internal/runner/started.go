package runner

import (
	"fmt"
	"sync"

	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/store"
)

// A job handed to its runtime must never be taken for one still queued
// and run again. After a host is killed, the attach record in the journal
// tells them apart (the page cache keeps it); after a power loss only
// what was synced is left, so the start is made durable before the
// runtime gets the job:
//
//   - a start --wait job needs nothing: a restarted machine ends its
//     caller, and the next host removes it (jobs.BootBound);
//   - a batch child's first attempt is covered by its batch's mark
//     (store.PutStartedTo), a write to the table that moves it
//     startedAhead children per throttle slot ahead at a time: a sync of
//     its own before each child made a batch of short children 1.7 times
//     as long. A child that
//     comes near the mark moves it on in the background, so that in a
//     steady batch no child waits for it. After a restart of the machine,
//     the children up to the mark that show no start and wait for no
//     retry are failed, not run: they may have started. Where the system
//     names no boot, which is what tells a restarted machine, each child
//     syncs its attach record;
//   - any other start (a retry's attempt among them) syncs its attach
//     record; starts at the same moment share one sync.
//
// A host that closes cleanly syncs the journal and says so (Seal): after
// a clean restart of the machine the attach records are exact, and the
// marks are not needed.

// startedAhead is how many children per throttle slot a batch's mark moves
// at a time: after a power loss, at most that many children per slot that
// never started are failed with those that had. Each move is a write with
// a sync of its own, more often than not; at two per slot they cost a
// batch of short children 10-20%, at four nothing measurable.
const startedAhead = 4

// startMarks is the marks of the batches running.
type startMarks struct {
	mu sync.Mutex
	to map[uint64]*batchMark // by batch
}

// batchMark is one batch's mark: durable, as written, and the move under
// way, if any (done is closed when it ends; err is its failure).
type batchMark struct {
	durable uint64
	done    chan struct{}
	err     error
}

// recordStart records how to find job r's runtime again (att), and makes
// r's start durable as above, before the runtime gets the job. A job
// whose start cannot be recorded is not run.
func (m *Manager) recordStart(r *store.Row, att *jobs.AttachRecord) error {
	if err := m.journal.SaveAttach(r.ID, att); err != nil {
		return fmt.Errorf("cannot record how to reattach to its runtime: %w", err)
	}
	if h := m.cfg.StartHook; h != nil {
		h(r.ID)
	}
	switch {
	case jobs.BootBound(r):
		return nil
	case jobs.IsBatchChild(r) && r.Attempt <= 1 && jobs.BootID() != "":
		return m.markBatchStarted(r)
	}
	if err := m.journal.Sync(); err != nil {
		return fmt.Errorf("cannot record durably that it started: %w", err)
	}
	return nil
}

// markBatchStarted returns once batch child r is within its batch's
// durable mark, moving the mark if it is not. A child that comes within a
// throttle slot's worth of the mark moves it on in the background, so that
// in a steady batch no child waits for a sync.
func (m *Manager) markBatchStarted(r *store.Row) error {
	slots := uint64(max(r.Batch, 1))
	s := &m.started
	for {
		s.mu.Lock()
		if s.to == nil {
			s.to = map[uint64]*batchMark{}
		}
		b := s.to[r.Parent]
		if b == nil {
			m.forgetEndedBatchesLocked()
			b = &batchMark{}
			s.to[r.Parent] = b
		}
		if b.durable >= r.ID {
			if b.done == nil && r.ID+slots > b.durable {
				m.moveMarkLocked(r.Parent, b, b.durable+startedAhead*slots)
			}
			s.mu.Unlock()
			return nil
		}
		if b.done == nil {
			m.moveMarkLocked(r.Parent, b, r.ID+startedAhead*slots)
		}
		done := b.done
		s.mu.Unlock()
		<-done
		s.mu.Lock()
		covered, err := b.durable >= r.ID, b.err
		s.mu.Unlock()
		if covered {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// moveMarkLocked starts moving batch's mark b to id: the mark is written
// without the lock held, by a goroutine the table's close waits for, and
// b.done is closed once that is over.
func (m *Manager) moveMarkLocked(batch uint64, b *batchMark, id uint64) {
	done := make(chan struct{})
	b.done, b.err = done, nil
	m.t.Go(func() {
		err := m.store.PutStartedTo(batch, id)
		if err != nil {
			m.log.Error("cannot move a batch's mark", "batch", batch, "err", err)
			err = fmt.Errorf("cannot record that its batch's children started: %w", err)
		}
		s := &m.started
		s.mu.Lock()
		if err == nil {
			b.durable = max(b.durable, id)
		}
		b.done, b.err = nil, err
		s.mu.Unlock()
		close(done)
	})
}

// forgetEndedBatchesLocked drops the marks of the batches that have ended
// or gone from the table, as a new batch joins them: a host that runs
// batches for months keeps only the running ones' marks. (The table's
// copy goes with the batch's row, or at the next start.)
func (m *Manager) forgetEndedBatchesLocked() {
	for id, b := range m.started.to {
		if b.done != nil {
			continue
		}
		m.t.Lock()
		p := m.t.GetLocked(id)
		over := p == nil || p.Row.State.Finished()
		m.t.Unlock()
		if over {
			delete(m.started.to, id)
		}
	}
}

// machineRestarted reports whether the machine restarted since a host
// last recorded its boot in the journal without closing cleanly after:
// then the batches' marks decide for their children that show no start.
// A host that closed cleanly in that boot left every attach record synced
// (Seal): they are exact, as after a host kill. A boot recorded and none
// known now is a restart, for all this host knows.
func (m *Manager) machineRestarted() bool {
	last := m.journal.Boot()
	return last != "" && last != jobs.BootID() && m.journal.Closed() != last
}

// mayHaveStarted says why r, a job that shows no start, may have started
// before the machine restarted, if it is a batch's child within its
// batch's mark (marks; marksErr: they could not be read), and waits for no
// retry (a retry's attempt is not covered by the mark: it started only if
// its attach record says so). "" means it did not: it is queued.
func mayHaveStarted(r *store.Row, rebooted bool, marks map[uint64]uint64, marksErr error) string {
	if !rebooted || !jobs.IsBatchChild(r) || jobs.Retrying(r) {
		return ""
	}
	const what = "the machine restarted while this job's batch ran, and "
	const then = ": it was not run again, so that it never runs twice; if it had not run, start its item again (start --foreach)"
	if marksErr != nil {
		return what + "the record of the batches' children that may have started could not be read (" + marksErr.Error() + ")" + then
	}
	if to := marks[r.Parent]; r.ID <= to {
		return what + fmt.Sprintf("the job may have started before (its batch's children up to job %d may have)", to) + then
	}
	return ""
}

// settleStartMarks drops the marks of batches that are over or gone
// (loaded: the table) and keeps the others for their children to come;
// and, before any job starts, drops the last host's clean close, records
// this boot in the journal and syncs it.
func (m *Manager) settleStartMarks(loaded map[uint64]*jobs.Job, marks map[uint64]uint64) {
	m.journal.DropClosed()
	if now := jobs.BootID(); now != "" {
		if err := m.journal.SaveBoot(now); err != nil {
			m.log.Warn("cannot record the machine's boot in the journal", "err", err)
		}
	}
	if err := m.journal.Sync(); err != nil {
		m.log.Warn("cannot sync the journal", "err", err)
	}
	to := map[uint64]*batchMark{}
	var over []uint64
	for id, mark := range marks {
		if p := loaded[id]; p == nil || p.Row.State.Finished() {
			over = append(over, id)
			continue
		}
		to[id] = &batchMark{durable: mark}
	}
	if err := m.store.DropStartedTo(over...); err != nil {
		m.log.Warn("cannot drop the marks of finished batches", "err", err)
	}
	m.started.mu.Lock()
	m.started.to = to
	m.started.mu.Unlock()
}

// Seal makes the journal durable as the host closes, once no job is being
// started any more, and records that it closed so in this boot: after a
// clean restart of the machine (a reboot with a batch running) the attach
// records are exact, and no batch child that never started is failed as
// one that may have.
func (m *Manager) Seal() {
	boot := jobs.BootID()
	if boot == "" {
		return
	}
	if err := m.journal.Sync(); err != nil {
		m.log.Warn("cannot sync the journal as the host closes", "err", err)
		return
	}
	if err := m.journal.SaveClosed(boot); err != nil {
		m.log.Warn("cannot record the host's close in the journal", "err", err)
		return
	}
	if err := m.journal.Sync(); err != nil {
		m.log.Warn("cannot sync the journal as the host closes", "err", err)
	}
}
