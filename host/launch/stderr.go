package launch

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// stderrTail is a plugin process's standard error as go-plugin reads it,
// keeping the last line written: what a plugin that fails before its
// handshake says about why ("cannot start: missing config", a panic's
// first line), for the job's reason. go-plugin copies the lines into the
// runtime's log too (ClientOptions.Stderr).
type stderrTail struct {
	r    io.ReadCloser
	mu   sync.Mutex
	line []byte // the line being written
	last []byte // the last whole line that was not blank
	eof  chan struct{}
	once sync.Once
}

// maxLastWords bounds the line kept for a reason.
const maxLastWords = 400

func newStderrTail(r io.ReadCloser) *stderrTail {
	return &stderrTail{r: r, eof: make(chan struct{})}
}

func (s *stderrTail) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.note(p[:n])
	if err != nil {
		s.once.Do(func() { close(s.eof) })
	}
	return n, err
}

func (s *stderrTail) Close() error { return s.r.Close() }

func (s *stderrTail) note(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.line = append(s.line, b[:min(len(b), maxLastWords-len(s.line))]...)
			return
		}
		s.line = append(s.line, b[:min(i, maxLastWords-len(s.line))]...)
		if t := bytes.TrimSpace(s.line); len(t) > 0 {
			s.last = append(s.last[:0], t...)
		}
		s.line = s.line[:0]
		b = b[i+1:]
	}
}

// lastWords is the last line the process wrote, once its standard error
// has ended or within wait: a process that exits before its handshake has
// written everything by then.
func (s *stderrTail) lastWords(wait time.Duration) string {
	select {
	case <-s.eof:
	case <-time.After(wait):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := bytes.TrimSpace(s.line); len(t) > 0 {
		return string(t) // the end, written without a newline
	}
	return string(s.last)
}
