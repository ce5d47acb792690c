//go:build unix

package recordlog

import "golang.org/x/sys/unix"

// iovMax is the most vectors one writev takes (IOV_MAX on Linux and the
// BSDs).
const iovMax = 1024

// appendChecked writes batch's checked frames at the end of the log with
// writev, the records from batch itself, and returns how many bytes it
// wrote. On an error some of them may be written.
func (w *Writer) appendChecked(batch []byte) (int64, error) {
	var err error
	if w.parts, err = checkedParts(&w.buf, w.parts[:0], batch); err != nil {
		return 0, err
	}
	w.iov = w.iov[:0]
	var total int64
	for _, p := range w.parts {
		src := batch
		if p.inScratch {
			src = w.buf
		}
		w.iov = append(w.iov, src[p.start:p.end])
		total += int64(p.end - p.start)
	}
	rc, err := w.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	iov := w.iov
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(iov) > 0 && werr == nil {
			n, e := unix.Writev(int(fd), iov[:min(len(iov), iovMax)])
			if e == unix.EINTR {
				continue
			}
			if e != nil {
				werr = e
				break
			}
			if n == 0 {
				werr = unix.EIO
				break
			}
			// Drop what was written; a short write goes on from the
			// middle of a vector.
			for n > 0 && len(iov) > 0 {
				if n < len(iov[0]) {
					iov[0] = iov[0][n:]
					n = 0
				} else {
					n -= len(iov[0])
					iov = iov[1:]
				}
			}
		}
		return true
	})
	clear(w.iov) // the records are the caller's; keep no reference to them
	if err == nil {
		err = werr
	}
	if err != nil {
		return 0, err
	}
	return total, nil
}
