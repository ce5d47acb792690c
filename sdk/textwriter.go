package sdk

import (
	"bytes"
	"sync"
)

// maxChunk bounds the text one record carries. A line longer than this is
// split into several records; their text, written back to back, is the line.
const maxChunk = 64 << 10

// TextWriter turns a job's raw stdout or stderr into records of one stream.
// Emitters hand them out; NewTextWriter is for plugins with an Emitter of
// their own (a test harness, a relay).
//
// Complete lines from one Write travel as one chunk record standing for one
// record per line, so a job printing millions of short lines costs one
// record's overhead per write, not per line, while every line keeps its own
// sequence number. A trailing piece without a newline waits for the rest of
// its line, up to maxChunk.
type TextWriter struct {
	mu      sync.Mutex
	stream  Stream
	emit    func(*Record) error
	partial []byte
}

// NewTextWriter returns a TextWriter that emits stream s's records through
// emit, which must copy what it keeps.
func NewTextWriter(s Stream, emit func(*Record) error) *TextWriter {
	return &TextWriter{stream: s, emit: emit}
}

// chunkCount is the number of records a chunk of text stands for: one per
// line, and one for a trailing piece without a newline.
func chunkCount(b []byte) uint32 {
	n := uint32(bytes.Count(b, []byte{'\n'}))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

func (w *TextWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if last := lastNewline(p); last >= 0 {
		head := p[:last+1]
		if len(w.partial) > 0 {
			// Finish the waiting line first; it joins the first line of p.
			i := bytes.IndexByte(head, '\n')
			w.partial = append(w.partial, head[:i+1]...)
			if err := w.sendLines(w.partial); err != nil {
				return 0, err
			}
			w.partial = w.partial[:0]
			head = head[i+1:]
		}
		if err := w.sendLines(head); err != nil {
			return 0, err
		}
		p = p[last+1:]
	}
	// What is left has no newline and continues the waiting piece, which
	// is always shorter than maxChunk between writes. Whole maxChunk pieces
	// go straight from p rather than through it.
	if len(w.partial) > 0 {
		k := min(maxChunk-len(w.partial), len(p))
		w.partial = append(w.partial, p[:k]...)
		p = p[k:]
		if len(w.partial) < maxChunk {
			return n, nil
		}
		if err := w.send(w.partial); err != nil {
			return 0, err
		}
		w.partial = w.partial[:0]
	}
	for len(p) >= maxChunk {
		if err := w.send(p[:maxChunk]); err != nil {
			return 0, err
		}
		p = p[maxChunk:]
	}
	w.partial = append(w.partial, p...)
	return n, nil
}

// sendLines emits text that ends in a newline, in chunks of at most maxChunk
// cut after a newline where one is near.
func (w *TextWriter) sendLines(b []byte) error {
	for len(b) > 0 {
		cut := len(b)
		if cut > maxChunk {
			cut = maxChunk
			if i := lastNewline(b[:maxChunk]); i >= 0 {
				cut = i + 1
			}
		}
		if err := w.send(b[:cut]); err != nil {
			return err
		}
		b = b[cut:]
	}
	return nil
}

func (w *TextWriter) send(b []byte) error {
	return w.emit(&Record{Stream: w.stream, Chunk: b, Count: chunkCount(b)})
}

// Flush emits a trailing piece that never got its newline.
func (w *TextWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) == 0 {
		return nil
	}
	err := w.send(w.partial)
	w.partial = w.partial[:0]
	return err
}

// lastNewline is bytes.LastIndexByte(b, '\n'), made fast for long runs
// without a newline: LastIndexByte looks at one byte at a time, while
// IndexByte is vectorised, so blocks are checked with IndexByte from the end.
func lastNewline(b []byte) int {
	const block = 512
	for end := len(b); end > 0; end -= block {
		start := max(end-block, 0)
		if bytes.IndexByte(b[start:end], '\n') >= 0 {
			return start + bytes.LastIndexByte(b[start:end], '\n')
		}
	}
	return -1
}
