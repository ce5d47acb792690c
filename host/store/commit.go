package store

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Group commit.
//
// Every write to the table is a bbolt transaction, and a bbolt commit costs
// two fdatasyncs (the pages, then the meta page that makes them current):
// most of a submit's time on a disk like this one. Writes that arrive while
// a commit is under way cannot be in it; they wait for it anyway, so they
// are made one transaction and committed together when it is done: eight
// submits at once cost about two commits, not eight. A write alone is
// committed at once, as before: nothing waits for company.
//
// This is bbolt's DB.Batch without its timer. Batch holds every write for
// up to MaxBatchDelay in the hope of others; a lone submit, the common
// case, would pay the whole delay.
//
// A write's function may run more than once: when one write in a shared
// transaction fails, the transaction is rolled back and each write is run
// again in a transaction of its own, so that a failure is reported to its
// write alone and takes none of the others with it. The functions given to
// update are written to be safe to repeat (they derive everything they
// store from the transaction and their arguments).

// committer gathers the writes that wait for a commit.
type committer struct {
	mu      sync.Mutex
	queue   []*write
	leading bool // a goroutine is committing; the queue waits for it

	// commits counts transactions committed, for tests and benchmarks.
	commits uint64
	// beforeCommit, if set (tests only), runs before each shared commit.
	beforeCommit func()
	// alone (benchmarks only) commits each write by itself, as bbolt's
	// Update does: the figure group commit is measured against.
	alone bool
}

// write is one caller's transaction function and its outcome.
type write struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan struct{} // closed when err is set, or when it is to lead
	lead bool          // set before done is closed: commit the queue
}

// update runs fn in a read-write transaction and returns once it is
// durable: committed, alone or with the writes that queued meanwhile.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	c := &s.commit
	w := &write{fn: fn, done: make(chan struct{})}
	c.mu.Lock()
	if c.alone {
		c.commits++
		c.mu.Unlock()
		return s.db.Update(fn)
	}
	c.queue = append(c.queue, w)
	if c.leading {
		c.mu.Unlock()
		<-w.done
		if !w.lead {
			return w.err
		}
		c.mu.Lock()
	}
	// This goroutine leads: it commits everything queued (its own write
	// among it), then hands the lead to the first write that queued while
	// it committed, so no caller commits for others for long.
	c.leading = true
	batch := c.queue
	c.queue = nil
	hook := c.beforeCommit
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	n := s.commitBatch(batch)
	c.mu.Lock()
	c.commits += n
	if len(c.queue) > 0 {
		next := c.queue[0]
		next.lead = true
		close(next.done)
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	for _, o := range batch {
		if o != w {
			close(o.done)
		}
	}
	return w.err
}

// commitBatch commits the writes of batch, in one transaction when all of
// them succeed, else each in its own; it sets each write's err and returns
// the number of transactions committed.
func (s *Store) commitBatch(batch []*write) uint64 {
	if len(batch) > 1 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, w := range batch {
				if err := w.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			return 1
		}
		// One failed, or the commit did: each again, alone, for its own
		// answer.
	}
	var n uint64
	for _, w := range batch {
		w.err = s.db.Update(w.fn)
		if w.err == nil {
			n++
		}
	}
	return n
}

// Commits is how many transactions the store has committed since it was
// opened: fewer than its writes when writes shared commits.
func (s *Store) Commits() uint64 {
	s.commit.mu.Lock()
	defer s.commit.mu.Unlock()
	return s.commit.commits
}
