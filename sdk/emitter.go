package sdk

import (
	"io"
	"sync"
	"time"
)

// emitter is the Emitter a runtime gets: the job's spool plus the text
// writers handed out, so their unfinished lines can be flushed at the end.
type emitter struct {
	spool   *spool
	mu      sync.Mutex
	writers map[Stream]*TextWriter
}

func newEmitter(s *spool) *emitter {
	return &emitter{spool: s, writers: map[Stream]*TextWriter{}}
}

func (e *emitter) Emit(r *Record) error { return e.spool.Emit(r) }

// Writer returns the one writer of stream s, so that two commands writing
// to the same stream share its unfinished line.
func (e *emitter) Writer(s Stream) io.Writer {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.writers[s]
	if !ok {
		w = NewTextWriter(s, e.spool.Emit)
		e.writers[s] = w
	}
	return w
}

// flush emits what the writers still hold.
func (e *emitter) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range []Stream{Output, Error, Progress, Verbose, Debug, Warning, Information} {
		if w := e.writers[s]; w != nil {
			_ = w.Flush()
		}
	}
}

// Sync implements Syncer.
func (e *emitter) Sync() { e.spool.sync(syncTimeout) }

// syncTimeout bounds Sync: a host that is slow to read must not hold the
// job up for long.
const syncTimeout = 100 * time.Millisecond
