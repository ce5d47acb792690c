//go:build !unix

package shell

import "io"

// relaysLeftovers: here a command's leftover that holds its pipe holds the
// script up (settle waits, as a stop's kill bounds).
const relaysLeftovers = false

// copy relays the pipe until its end (see copier_unix.go).
func (c *copier) copy() {
	defer close(c.done)
	defer c.r.Close()
	_, _ = io.CopyBuffer(writerFunc(func(b []byte) (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.pass(b)
		return len(b), nil
	}), c.r, c.buf)
}

// drain reports the pipe at its end only once it is: here pipes cannot be
// read without waiting, so settle waits for them (waitCopiers), as a
// stop's kill bounds.
func (c *copier) drain() bool { return c.ended() }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
