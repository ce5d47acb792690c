package jobs

import (
	"fmt"
	"os"
	"time"

	"github.com/bgjob/bgjob/host/internal/safepath"
)

// removeJob deletes j's row, then forgets it and its files. It does not
// wait for a receive in progress (its caller may have stopped reading); the
// receive notices the job is gone and ends. The row's delete (an fsynced
// bbolt transaction) happens outside Host.mu.
func (t *Table) Remove(j *Job) error { return t.RemoveIf(j, false) }

// removeFinished is removeJob for a job chosen because it was finished:
// if it is not finished by the time it can be removed (restarted in place
// meanwhile), it stays.
func (t *Table) RemoveFinished(j *Job) error { return t.RemoveIf(j, true) }

func (t *Table) RemoveIf(j *Job, onlyFinished bool) error {
	j.PersistMu.Lock() // no row write may land after the delete
	defer j.PersistMu.Unlock()
	t.mu.Lock()
	gone := j.Removed || onlyFinished && !j.Row.State.Finished()
	tb, bury := t.buryLocked(j, time.Now())
	early := BootBound(&j.Row)
	t.mu.Unlock()
	if gone {
		return nil
	}
	if bury {
		// Before the row goes: a host killed right after the delete
		// leaves the tomb (see tomb.go).
		t.bury(tb)
	}
	del := t.store.Delete
	if early {
		// Its caller waits for the removal to print the job's end; the
		// sync goes on meanwhile. A power loss that takes the sync brings
		// back a row of an earlier boot, which the next host removes
		// (FromEarlierBoot), so the job does not run again.
		del = t.store.DeleteForeground
	}
	if err := del(j.Row.ID); err != nil {
		return fmt.Errorf("cannot remove job %d: %w", j.Row.ID, err)
	}
	t.mu.Lock()
	j.Removed = true
	delete(t.jobs, j.Row.ID)
	t.trackLocked(j) // out of the queue
	t.UnindexLocked(j)
	if j.Log != nil {
		j.Log.Close()
	}
	j.NotifyLocked()
	failed := t.settleDependentsLocked(j)
	t.mu.Unlock()
	for _, d := range failed {
		t.Persist(d)
	}
	t.cursors.Drop(j.Row.ID)
	t.journal.DropAttach(j.Row.ID)
	t.removeFiles(j.Row.ID)
	return nil
}

// removeEmptied removes the parents among js whose children have all been
// removed (receive --auto-remove of a parent), and their directories.
func (t *Table) RemoveEmptied(js []*Job) {
	for _, p := range js {
		t.mu.Lock()
		empty := len(p.Children) > 0
		for _, k := range p.Children {
			empty = empty && k.Removed
		}
		t.mu.Unlock()
		if empty {
			_ = t.RemoveTree(p, true)
		}
	}
}

// removeTree removes j, and a parent's children and its directory (Slurm, SSH) with
// it; with onlyFinished, only if j is (still) finished.
func (t *Table) RemoveTree(j *Job, onlyFinished bool) error {
	t.mu.Lock()
	kids := append([]*Job(nil), j.Children...)
	if onlyFinished && (!j.Row.State.Finished() || j.Removed) {
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	for _, k := range kids {
		if err := t.Remove(k); err != nil {
			return err
		}
	}
	if err := t.RemoveIf(j, onlyFinished); err != nil {
		return err
	}
	if j.Row.Slurm != nil && j.Row.Parent == 0 && j.Row.Slurm.Dir != "" {
		os.RemoveAll(j.Row.Slurm.Dir)
	}
	if j.Row.SSH != nil && j.Row.Parent == 0 && j.Row.SSH.Dir != "" {
		os.RemoveAll(j.Row.SSH.Dir)
	}
	return nil
}

// removeFiles removes what job id keeps beside its row: its payload, its
// record log and its runtime's log. Most are not there (a small payload
// and few records live in the row).
func (t *Table) removeFiles(id uint64) {
	for _, f := range []string{t.PayloadPath(id), t.LogPath(id), t.RuntimeLogPath(id)} {
		_ = safepath.RemoveFile(f)
	}
}
