package store

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// What a power loss leaves must still tell a job that was handed to its
// runtime from one still queued: the first must never run again. A job's
// attach record, synced in the journal before its runtime gets the job,
// does that for most jobs. A batch's children (start --foreach) are many
// and short, and a sync of their own before each would double a batch's
// time, so a batch instead keeps a mark in the table, moved a few children
// ahead at a time: its children up to the mark may have started. A move
// is an ordinary write, sharing its commit with the children's ends. The
// mark matters only after the machine restarted (a host killed leaves
// every attach record in the page cache), which the boot the journal
// records tells.

const (
	kindBoot   = 'b'
	kindClosed = 'z'
)

// SaveBoot records the machine's boot (its id) as the host's current one.
func (j *Journal) SaveBoot(boot string) error { return j.Put(kindBoot, 0, []byte(boot)) }

// Boot is the boot SaveBoot last recorded; "" if none was.
func (j *Journal) Boot() string {
	b, _ := j.Get(kindBoot, 0)
	return string(b)
}

// SaveClosed records that the host closed in boot with everything it had
// written synced before: every job handed to its runtime until then has
// its attach record, so a restart of the machine after it needs no mark.
// The next host drops it (DropClosed) before it starts any job.
func (j *Journal) SaveClosed(boot string) error { return j.Put(kindClosed, 0, []byte(boot)) }

// Closed is the boot SaveClosed recorded, if the last host closed so; "".
func (j *Journal) Closed() string {
	b, _ := j.Get(kindClosed, 0)
	return string(b)
}

// DropClosed forgets that the last host closed cleanly.
func (j *Journal) DropClosed() { _ = j.Put(kindClosed, 0, nil) }

// startedPrefix starts a batch's mark's key in the meta bucket; the
// batch's id follows (startedKey).
const startedPrefix = "started/"

func startedKey(batch uint64) []byte { return append([]byte(startedPrefix), idKey(batch)...) }

// StartedAll returns every batch's mark, by batch: children up to the
// mark may have been handed to their runtimes. One pass over the marks,
// as a host starts, rather than a read for each batch in the table.
func (s *Store) StartedAll() (map[uint64]uint64, error) {
	mark := func(k, v []byte) (uint64, uint64, bool) {
		if len(k) != len(startedPrefix)+8 || len(v) != 8 || string(k[:len(startedPrefix)]) != startedPrefix {
			return 0, 0, false
		}
		return binary.BigEndian.Uint64(k[len(startedPrefix):]), binary.BigEndian.Uint64(v), true
	}
	// The overlay first, as get reads it: a mark a checkpoint moves to
	// the table meanwhile is then in both, the same.
	s.mu.Lock()
	pend := map[string]pending{}
	for k, p := range s.overlay {
		if k[0] == bMeta && len(k) > 1+len(startedPrefix) && k[1:1+len(startedPrefix)] == startedPrefix {
			pend[k[1:]] = p
		}
	}
	s.mu.Unlock()
	out := map[uint64]uint64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		for k, v := c.Seek([]byte(startedPrefix)); k != nil && bytes.HasPrefix(k, []byte(startedPrefix)); k, v = c.Next() {
			if batch, to, ok := mark(k, v); ok {
				out[batch] = to
			}
		}
		return nil
	})
	for k, p := range pend {
		batch, to, ok := mark([]byte(k), p.val)
		switch {
		case p.del && len(k) == len(startedPrefix)+8:
			delete(out, binary.BigEndian.Uint64([]byte(k[len(startedPrefix):])))
		case ok:
			out[batch] = to
		}
	}
	return out, err
}

// PutStartedTo moves batch's mark to id, never back; it is durable when
// this returns. A batch whose row is gone keeps no mark: a move that
// comes after the batch was removed (its removal deletes the mark) writes
// nothing.
func (s *Store) PutStartedTo(batch, id uint64) error {
	return s.update(func(tx *wtx) error {
		if row, err := s.get(bJobs, idKey(batch)); err != nil || row == nil {
			return err
		}
		if old, err := s.get(bMeta, startedKey(batch)); err != nil || len(old) == 8 && binary.BigEndian.Uint64(old) >= id {
			return err
		}
		tx.put(bMeta, startedKey(batch), idKey(id))
		return nil
	})
}

// DropStartedTo forgets the marks of batches that are over, in one write.
func (s *Store) DropStartedTo(batches ...uint64) error {
	if len(batches) == 0 {
		return nil
	}
	return s.update(func(tx *wtx) error {
		for _, b := range batches {
			tx.del(bMeta, startedKey(b))
		}
		return nil
	})
}
