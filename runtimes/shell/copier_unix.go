//go:build unix

package shell

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// relaysLeftovers says a pipe a command's leftover holds is relayed while
// the script goes on (settle): pipes here can be read without waiting.
const relaysLeftovers = true

// copy relays the pipe until its end: each read, and passing on what it
// read, happen with c.mu held, so that drain, which reads the rest under
// it, comes after every byte the copier read first.
func (c *copier) copy() {
	defer close(c.done)
	defer c.r.Close()
	defer func() {
		c.mu.Lock()
		c.buf = nil // a copier kept after its end keeps no buffer
		c.mu.Unlock()
	}()
	rc, err := c.r.SyscallConn()
	if err != nil {
		return
	}
	for {
		err := rc.Read(func(fd uintptr) bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.eof {
				return true
			}
			return c.readLocked(fd)
		})
		c.mu.Lock()
		eof := c.eof
		c.mu.Unlock()
		if err != nil || eof {
			return
		}
	}
}

// readLocked reads the pipe once without waiting and passes on what it
// read; false when it holds nothing now. c.mu is held.
func (c *copier) readLocked(fd uintptr) bool {
	for {
		n, err := unix.Read(int(fd), c.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case n > 0:
			c.pass(c.buf[:n])
		default: // the end, or an error: nothing more comes
			c.eof = true
		}
		return true
	}
}

// drain passes on what the pipe holds now, once the command writing it has
// exited, and reports whether the pipe is at its end: false when
// something the command left running still holds it open.
func (c *copier) drain() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc, err := c.r.SyscallConn()
	if err != nil {
		return c.eof
	}
	_ = rc.Control(func(fd uintptr) {
		for !c.eof && c.buf != nil && c.readLocked(fd) {
		}
	})
	return c.eof || c.buf == nil
}
