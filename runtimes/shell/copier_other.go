//go:build !unix

package shell

import "io"

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

// drain waits for the pipe's end: here pipes cannot be read without
// waiting, so a command's leftovers hold the script up, as before.
func (c *copier) drain() bool {
	<-c.done
	return true
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
