package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commit.
//
// Every write to the table is one record in its log (see wal.go) and one
// fdatasync: most of a submit's time on a disk like this one. Writes that
// arrive while a record is being made durable cannot be in it; they wait
// for it anyway, so they are made one record and synced together when it
// is done: eight submits at once cost about two syncs, not eight. A write
// alone is synced at once: nothing waits for company.
//
// This is bbolt's DB.Batch without its timer. Batch holds every write for
// up to MaxBatchDelay in the hope of others; a lone submit, the common
// case, would pay the whole delay.
//
// Each write's function runs once, in order, and says what it changes
// (puts and deletes: a wtx); one that fails changes nothing, and takes
// none of the others with it.

// committer gathers the writes that wait for a commit.
type committer struct {
	mu      sync.Mutex
	queue   []*write
	leading bool // a goroutine is committing; the queue waits for it

	// commits counts records made durable, for tests and benchmarks.
	commits uint64
	// beforeCommit, if set (tests only), runs before each shared commit.
	beforeCommit func()
	// beforeSync, if set (tests only), runs before each record's sync; an
	// error it returns is the sync's.
	beforeSync func() error
	// alone (benchmarks only) commits each write by itself: the figure
	// group commit is measured against.
	alone bool
}

// write is one caller's function and its outcome.
type write struct {
	fn func(*wtx) error // nil: close the log (Close), after the others
	// early: the caller goes on once the record is written and readable,
	// while its sync is under way (see Store.CreateForeground). Only a
	// batch of early writes alone is released so; in a batch with any
	// other write, every write waits for the sync.
	early bool

	err  error
	done chan struct{} // closed when err is set, or when it is to lead
	lead bool          // set before done is closed: commit the queue
}

// wtx is what a write sees: the table as the log has it (the overlay over
// bbolt), the next job id, and the changes it makes.
type wtx struct {
	s      *Store
	ops    []op
	nextID uint64
}

func (t *wtx) put(bucket byte, key, val []byte) {
	t.ops = append(t.ops, op{bucket: bucket, key: key, val: val})
}

func (t *wtx) del(bucket byte, key []byte) {
	t.ops = append(t.ops, op{bucket: bucket | opDelete, key: key})
}

// takeIDs takes n new job ids and returns the first. Ids are never reused:
// a write that fails leaves a gap. (One exception: a start --wait row
// that a power loss took before its sync, see CreateForeground.)
func (t *wtx) takeIDs(n uint64) uint64 {
	id := t.nextID
	t.nextID += n
	t.put(bMeta, keyNextID, idKey(t.nextID))
	return id
}

// update runs fn and returns once what it changed is durable: in the log,
// alone or with the writes that queued meanwhile.
func (s *Store) update(fn func(*wtx) error) error {
	return s.commitWrite(&write{fn: fn, done: make(chan struct{})})
}

// updateEarly is update for a write that may answer once written, its
// sync under way, when no other write shares its commit (see early).
func (s *Store) updateEarly(fn func(*wtx) error) error {
	return s.commitWrite(&write{fn: fn, early: true, done: make(chan struct{})})
}

// commitWrite queues w and returns once it is committed: durable, or, if
// w is early and alone with other early writes, written and being synced.
func (s *Store) commitWrite(w *write) error {
	c := &s.commit
	c.mu.Lock()
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
	var n uint64
	switch {
	case c.alone:
		for _, o := range batch {
			n += s.commitBatch([]*write{o})
		}
	case allEarly(batch):
		if finish := s.commitEarly(batch); finish != nil {
			// The sync goes on, leading, in the background: no record
			// is written before this one is durable, which is what
			// tells a torn end from damage (readWAL).
			release(batch, w)
			go func() { s.handOff(finish()) }()
			return w.err
		}
	default:
		n = s.commitBatch(batch)
	}
	s.handOff(n)
	release(batch, w)
	return w.err
}

func allEarly(batch []*write) bool {
	for _, w := range batch {
		if !w.early {
			return false
		}
	}
	return true
}

// release lets the writes of batch other than the leader's own return.
func release(batch []*write, leader *write) {
	for _, o := range batch {
		if o != leader {
			close(o.done)
		}
	}
}

// handOff counts n records made durable and hands the lead to the first
// write that queued meanwhile, if any.
func (s *Store) handOff(n uint64) {
	c := &s.commit
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits += n
	if len(c.queue) > 0 {
		next := c.queue[0]
		next.lead = true
		close(next.done)
	} else {
		c.leading = false
	}
}

// commitBatch runs the writes of batch, appends what they change to the
// log as one record, and puts it in the overlay; it sets each write's err
// and returns the number of records made durable (0 or 1).
func (s *Store) commitBatch(batch []*write) uint64 {
	ops, seq, closing, ok := s.writeBatch(batch)
	if !ok {
		return 0
	}
	if err := s.syncRecord(); err != nil {
		// Its writers are told it failed: it must not be applied after
		// all by the next host, were this one killed before the next
		// record is written over it.
		s.mu.Lock()
		if uerr := s.wal.unwrite(); uerr != nil {
			err = fmt.Errorf("%w (and cannot be taken back from the log: %v)", err, uerr)
		}
		s.mu.Unlock()
		failed(batch, err)
		if closing {
			s.closeLog()
		}
		return 0
	}
	s.publish(seq, ops)
	s.afterCommit(closing)
	return 1
}

// commitEarly is commitBatch for a batch of early writes: the record is
// written and put in the overlay, so that the writes read back, and
// finish, which the caller runs while it still leads, makes it durable. A
// record written and not synced survives the host killed, not the machine
// losing power; and once a sync fails nothing after it can be trusted
// (the kernel may have dropped the pages it could not write and report
// the next sync clean), so the store takes no more writes. finish is nil
// when nothing was written.
func (s *Store) commitEarly(batch []*write) (finish func() uint64) {
	ops, seq, _, ok := s.writeBatch(batch)
	if !ok {
		return nil
	}
	s.publish(seq, ops)
	return func() uint64 {
		if err := s.syncRecord(); err != nil {
			s.mu.Lock()
			s.syncErr = fmt.Errorf("a write to the job table's log could not be made durable, so the host takes no more writes (restart it once the disk is sound): %w", err)
			s.mu.Unlock()
			return 0
		}
		s.afterCommit(false)
		return 1
	}
}

// syncRecord makes the record written last durable.
func (s *Store) syncRecord() error {
	if hook := s.commit.beforeSync; hook != nil {
		if err := hook(); err != nil {
			return err
		}
	}
	return s.wal.sync()
}

// writeBatch runs the writes of batch and writes what they change to the
// log as one record, not synced; ok says it was written. A write that
// fails, or all of them when the record cannot be written, has its err
// set.
func (s *Store) writeBatch(batch []*write) (ops []op, seq uint64, closing, ok bool) {
	s.mu.Lock()
	closed, broken := s.wal == nil, s.syncErr
	t := &wtx{s: s, nextID: s.nextID}
	s.mu.Unlock()
	if closed || broken != nil {
		if broken == nil {
			broken = errClosed
		}
		for _, w := range batch {
			w.err = broken
			closing = closing || w.fn == nil
		}
		if closing && !closed {
			// Close after a failed sync: what the overlay holds goes to
			// the table, and the log is closed, as on any Close.
			s.closeLog()
		}
		return nil, 0, false, false
	}
	for _, w := range batch {
		if w.fn == nil {
			closing = true
			continue
		}
		t.ops = t.ops[:0]
		if w.err = w.fn(t); w.err != nil {
			continue
		}
		ops = append(ops, t.ops...)
	}
	// Ids taken stay taken, whatever becomes of the writes that took
	// them: a record whose sync failed may still be read back one day.
	s.mu.Lock()
	s.nextID = max(s.nextID, t.nextID)
	seq = s.seq + 1
	s.mu.Unlock()
	if len(ops) == 0 {
		if closing {
			s.closeLog()
		}
		return nil, 0, closing, false
	}
	if err := s.wal.writeOps(seq, s.tableID, ops); err != nil {
		failed(batch, err)
		if closing {
			s.closeLog()
		}
		return nil, 0, closing, false
	}
	return ops, seq, closing, true
}

// failed sets err on the writes of batch that had none.
func failed(batch []*write, err error) {
	for _, w := range batch {
		if w.err == nil && w.fn != nil {
			w.err = err
		}
	}
}

// publish makes record seq, written, where the next record goes after,
// and its changes readable (the overlay).
func (s *Store) publish(seq uint64, ops []op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wal.off = s.wal.next
	s.seq = seq
	for _, o := range ops {
		s.setPending(o, seq)
	}
}

// afterCommit closes the log after a Close's write, applies a large
// backlog to the table now, or makes sure a checkpoint comes. The caller
// leads the committer.
func (s *Store) afterCommit(closing bool) {
	s.mu.Lock()
	big := len(s.overlay) >= checkpointRows || s.overlayBytes >= checkpointBytes || s.wal.off >= checkpointLog
	s.mu.Unlock()
	switch {
	case closing:
		s.closeLog()
	case big:
		// A large backlog is applied now, while this write leads: the
		// log can start over when it is done.
		_ = s.checkpoint(true)
	default:
		s.armCheckpoint()
	}
}

// closeLog applies the overlay to the table and closes the log; writes
// after it fail. The caller leads the committer.
func (s *Store) closeLog() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.mu.Unlock()
	s.closeErr = s.checkpoint(true)
	s.ckMu.Lock() // no checkpoint from the timer is under way
	s.mu.Lock()
	if s.wal != nil {
		if err := s.wal.close(); s.closeErr == nil {
			s.closeErr = err
		}
		s.wal = nil
	}
	s.mu.Unlock()
	s.ckMu.Unlock()
}

// The overlay.

// pending is a change in the log that the table does not have yet.
type pending struct {
	val []byte
	del bool
	seq uint64
}

func overlayKey(bucket byte, key []byte) string { return string(rune(bucket)) + string(key) }

// setPending puts o, of record seq, in the overlay, in place of what it
// held for the key. s.mu is held.
func (s *Store) setPending(o op, seq uint64) {
	k := overlayKey(o.bucket&^opDelete, o.key)
	if old, ok := s.overlay[k]; ok {
		s.overlayBytes -= old.size(k)
	}
	p := pending{val: o.val, del: o.bucket&opDelete != 0, seq: seq}
	s.overlay[k] = p
	s.overlayBytes += p.size(k)
}

// size is what p, under overlay key k, counts for in overlayBytes.
func (p pending) size(k string) int { return len(k) - 1 + len(p.val) }

// op is p, under overlay key k, as the change it is.
func (p pending) op(k string) op {
	o := op{bucket: k[0], key: []byte(k[1:]), val: p.val}
	if p.del {
		o.bucket |= opDelete
	}
	return o
}

// lookup returns what the overlay says of key: found is false when the
// table (bbolt) has the answer.
func (s *Store) lookup(bucket byte, key []byte) (val []byte, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.overlay[overlayKey(bucket, key)]
	if !ok {
		return nil, false
	}
	if p.del {
		return nil, true
	}
	return p.val, true
}

// When the overlay is applied to the table: after checkpointDelay without
// a checkpoint, or at once when it holds this much.
var checkpointDelay = 200 * time.Millisecond // a var: tests hold checkpoints off

const (
	checkpointRows  = 4096
	checkpointBytes = 16 << 20
	checkpointLog   = 32 << 20
)

// armCheckpoint makes sure a checkpoint comes within checkpointDelay.
func (s *Store) armCheckpoint() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer == nil && s.wal != nil {
		s.timer = time.AfterFunc(checkpointDelay, func() {
			s.mu.Lock()
			s.timer = nil
			s.mu.Unlock()
			_ = s.checkpoint(false)
		})
	}
}

// checkpoint applies the overlay to the table in one bbolt commit (two
// fdatasyncs, for any number of writes), with the log's sequence number it
// reaches, and then forgets what it applied; when nothing newer came
// meanwhile, the log starts over. leader says the caller leads the
// committer (no record can be under way but its own, which is done).
func (s *Store) checkpoint(leader bool) error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	s.mu.Lock()
	if len(s.overlay) == 0 || s.wal == nil {
		open := s.wal != nil
		s.mu.Unlock()
		if open {
			// An earlier checkpoint may have applied everything while a
			// record's sync was still under way (CreateForeground), and
			// left the log as it was: it starts over now.
			s.restartLog(leader)
		}
		return nil
	}
	seq := s.seq
	snap := make(map[string]pending, len(s.overlay))
	for k, p := range s.overlay {
		snap[k] = p
	}
	s.mu.Unlock()
	// In key order: bbolt fills pages best with keys that come in order
	// (job ids only grow).
	keys := make([]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ops := make([]op, len(keys))
	for i, k := range keys {
		ops[i] = snap[k].op(k)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := applyOps(tx, ops); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyWALSeq, binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		// The log still has it all; the next checkpoint tries again.
		s.armCheckpoint()
		return err
	}
	s.mu.Lock()
	for k, p := range snap {
		if cur, ok := s.overlay[k]; ok && cur.seq == p.seq {
			delete(s.overlay, k)
			s.overlayBytes -= p.size(k)
		}
	}
	s.applied = seq
	s.mu.Unlock()
	s.restartLog(leader)
	return nil
}

// restartLog starts the log over when the table has everything in it and
// no record is being written. A record under way (another leader) means
// the overlay is not empty for long: its checkpoint comes, and checks
// again.
func (s *Store) restartLog(leader bool) {
	c := &s.commit
	if !leader {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.leading {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wal != nil && s.applied == s.seq {
		s.wal.reset()
	}
}

// Commits is how many records the store has made durable since it was
// opened: fewer than its writes when writes shared commits.
func (s *Store) Commits() uint64 {
	s.commit.mu.Lock()
	defer s.commit.mu.Unlock()
	return s.commit.commits
}
