package remote

import (
	"errors"
	"fmt"
	"os"

	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
)

// Cursor is where the host has read a task's log to (whole records) and
// the last number there. It is guarded by the table's lock.
type Cursor struct {
	Off int64
	Seq uint64
}

// Tail appends to child k's log the whole records the task log at path
// holds beyond those k has, copied in pieces of about tailChunk at record
// boundaries: after a host restart a task's log is read again from its
// start, and its size is the job's output, which must not be held in
// memory at once. Records at or below k's last number are dropped, so
// each reaches k's log once however often the task log is read.
func Tail(t *jobs.Table, k *jobs.Job, path string, c *Cursor) error {
	t.Lock()
	off, seq, last := c.Off, c.Seq, k.Row.LastSeq
	t.Unlock()
	end, err := recordlog.ScanFrom(path, recordlog.End{Size: off, LastSeq: seq})
	if err != nil || end.Size == off {
		if errors.Is(err, recordlog.ErrCorrupt) {
			return err
		}
		return nil // nothing new, or a log not there yet
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// Copies [from, to) of the task's log to k's.
	copyOut := func(from, to int64) error {
		if to <= from {
			return nil
		}
		data := make([]byte, to-from)
		if _, err := f.ReadAt(data, from); err != nil {
			return fmt.Errorf("cannot read %s: %w", path, err)
		}
		t.Lock()
		if k.Log == nil {
			lg, lerr := recordlog.Open(t.LogPath(k.Row.ID), k.Row.LogSize)
			if lerr != nil {
				t.Unlock()
				return lerr
			}
			k.Log = lg
		}
		lg := k.Log
		t.Unlock()
		batch, err := recordlog.Plain(data)
		if err != nil {
			return fmt.Errorf("cannot copy the records of %s: %w", path, err)
		}
		return lg.Append(batch)
	}
	start := off // of the records not yet copied
	err = recordlog.Read(path, off, end.Size, func(r *sdk.Record, recEnd int64) error {
		if r.Seq <= last {
			start = recEnd // k has it already
			return nil
		}
		if recEnd-start >= tailChunk {
			if err := copyOut(start, recEnd); err != nil {
				return err
			}
			start = recEnd
		}
		return nil
	})
	if err == nil {
		err = copyOut(start, end.Size)
	}
	if err != nil {
		return err
	}
	t.Lock()
	c.Off, c.Seq = end.Size, end.LastSeq
	if end.LastSeq > k.Row.LastSeq {
		k.Row.LastSeq = end.LastSeq
		k.NotifyLocked()
	}
	t.Unlock()
	t.Checkpoint(k)
	return nil
}

// tailChunk is about how much of a task's log the host copies at once.
const tailChunk = 1 << 20
