package sdk

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// splicePipeSize is the depth of the pipe a batch passes through: a whole
// 1 MiB batch at once where the system allows it (the default limit for an
// unprivileged process).
const splicePipeSize = 1 << 20

// splicer moves batches into the bulk socket without copying them: the
// records' pages are mapped into a pipe (vmsplice) and moved from it into
// the socket (splice), where the host's read is their only copy. That is
// safe because a sealed batch's bytes never change, and its buffer is
// reused only once the host acknowledged it, that is once the host has
// read it out of the socket (or the connection, and its queued data, is
// gone).
type splicer struct {
	r, w int // the pipe, non-blocking at both ends
	conn net.Conn
	raw  syscall.RawConn
	used int  // bytes in the pipe
	off  bool // the system refused a splice: write instead
}

// newSplicer returns nil when conn cannot take spliced pages; the caller
// then writes batches as usual.
func newSplicer(conn net.Conn) *splicer {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil
	}
	_, _ = unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, splicePipeSize)
	s := &splicer{r: p[0], w: p[1], conn: conn, raw: raw}
	// A system that refuses vmsplice (a seccomp filter, say) says so
	// here, before any batch is half sent.
	probe := []byte{0}
	if _, err := unix.Vmsplice(s.w, []unix.Iovec{iovec(probe)}, unix.SPLICE_F_NONBLOCK); err != nil {
		s.close()
		return nil
	}
	if _, err := unix.Read(s.r, probe); err != nil {
		s.close()
		return nil
	}
	return s
}

func (s *splicer) close() {
	unix.Close(s.r)
	unix.Close(s.w)
}

// send writes hdr (copied into the pipe, as the caller reuses it) and then
// the pages of recs. A nil error means all of it is in the socket.
func (s *splicer) send(hdr, recs []byte) error {
	if s.off {
		bufs := net.Buffers{hdr, recs}
		_, err := bufs.WriteTo(s.conn)
		return err
	}
	if _, err := unix.Write(s.w, hdr); err != nil {
		return err
	}
	s.used = len(hdr)
	for len(recs) > 0 {
		n, err := unix.Vmsplice(s.w, []unix.Iovec{iovec(recs)}, unix.SPLICE_F_NONBLOCK)
		switch {
		case err == unix.EAGAIN || (err == nil && n == 0):
			// The pipe is full: empty it into the socket.
			if err := s.drain(); err != nil {
				return s.fallBack(err, recs)
			}
			continue
		case err != nil:
			return s.fallBack(err, recs)
		}
		s.used += n
		recs = recs[n:]
	}
	return s.fallBack(s.drain(), nil)
}

// fallBack passes on err, unless it says the system will not splice here
// (a filter, a socket that takes no pages) rather than that the socket
// broke: then what is still in the pipe, and rest, are written instead,
// in order, and so is every later batch.
func (s *splicer) fallBack(err error, rest []byte) error {
	if err == nil || !(errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) ||
		errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP)) {
		return err
	}
	s.off = true
	inPipe := make([]byte, s.used)
	for got := 0; got < len(inPipe); {
		n, err := unix.Read(s.r, inPipe[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return fmt.Errorf("cannot take a batch back from its pipe: %v", err)
		}
		got += n
	}
	s.used = 0
	bufs := net.Buffers{inPipe, rest}
	_, err = bufs.WriteTo(s.conn)
	return err
}

// drain splices what is in the pipe into the socket, waiting for room in
// the socket as a write would.
func (s *splicer) drain() error {
	var serr error
	err := s.raw.Write(func(fd uintptr) bool {
		for s.used > 0 {
			n, err := spliceTo(s.r, int(fd), s.used)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				return false // wait until the socket has room
			}
			if err != nil {
				serr = err
				return true
			}
			s.used -= n
		}
		return true
	})
	if err == nil {
		err = serr
	}
	return err
}

// spliceTo moves n bytes from the pipe r into the socket fd; tests replace
// it to see a refusal handled.
var spliceTo = func(r, fd, n int) (int, error) {
	// (unix.Splice's count is an int64 on some platforms, an int on
	// others.)
	moved, err := unix.Splice(r, nil, fd, nil, n, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	return int(moved), err
}

func iovec(b []byte) unix.Iovec {
	v := unix.Iovec{Base: &b[0]}
	v.SetLen(len(b))
	return v
}
