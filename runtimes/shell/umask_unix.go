//go:build unix

package shell

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const haveUmask = true

// umaskMu is held while the process's mask is a job's. The mask belongs to
// the whole process, and a thread job's process runs several jobs, each
// with its own: so a job's file is created, and its command forked (a
// child keeps the mask it was forked with), with the process's mask set to
// the job's for just that long, one job at a time, and then put back.
// Setting it per syscall, rather than keeping it 0 and masking modes by
// hand, is what reaches a forked command, which Go gives no way to set a
// mask of its own; and between those moments the process keeps its own
// mask, never 0 and never a job's, for what is created without a handler
// to mask it (the interpreter's fifos for <(...), the SDK's files).
var umaskMu sync.Mutex

// withUmask runs f, which creates files or starts a process, with the
// process's mask set to m.
func withUmask(m uint32, f func()) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(int(m))
	defer syscall.Umask(old)
	f()
}

// processUmask is the process's mask at rest, which a job that brings none
// starts with. Linux shows it in /proc; elsewhere it is set and put back,
// the only way there is (a file created elsewhere in the process in that
// moment gets no mask). Under umaskMu, so that it is never a job's
// passing one.
func processUmask() uint32 {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(m)
				}
			}
		}
	}
	m := syscall.Umask(0)
	syscall.Umask(m)
	return uint32(m)
}
