package sdk

import (
	"io"
	"sync"
	"time"
)

// emitter is the Emitter a runtime gets: the job's spool plus the text
// writers handed out, so their unfinished lines can be flushed at the end.
type emitter struct {
	spool *spool
	// mergeError: the job's text on the error stream is output
	// (Job.MergeError).
	mergeError bool
	mu         sync.Mutex
	writers    map[Stream]*TextWriter
}

func newEmitter(s *spool, mergeError bool) *emitter {
	return &emitter{spool: s, mergeError: mergeError, writers: map[Stream]*TextWriter{}}
}

func (e *emitter) Emit(r *Record) error { return e.spool.Emit(r) }

// Writer returns the one writer of stream s, so that two commands writing
// to the same stream share its unfinished line. A job started with
// --merge-error gets the output writer for the error stream: this is where
// every runtime hands over its job's stderr, so the merge needs nothing of
// the runtime, and stdout and stderr share a line as 2>&1 makes them.
// Records emitted as errors on purpose (NewError) stay errors.
func (e *emitter) Writer(s Stream) io.Writer {
	if s == Error && e.mergeError {
		s = Output
	}
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
