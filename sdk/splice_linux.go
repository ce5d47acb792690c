package sdk

import (
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
	raw  syscall.RawConn
	used int // bytes in the pipe
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
	s := &splicer{r: p[0], w: p[1], raw: raw}
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
				return err
			}
			continue
		case err != nil:
			return err
		}
		s.used += n
		recs = recs[n:]
	}
	return s.drain()
}

// drain splices what is in the pipe into the socket, waiting for room in
// the socket as a write would.
func (s *splicer) drain() error {
	var serr error
	err := s.raw.Write(func(fd uintptr) bool {
		for s.used > 0 {
			n, err := unix.Splice(s.r, nil, int(fd), nil, s.used, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
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
			s.used -= int(n)
		}
		return true
	})
	if err == nil {
		err = serr
	}
	return err
}

func iovec(b []byte) unix.Iovec {
	v := unix.Iovec{Base: &b[0]}
	v.SetLen(len(b))
	return v
}
