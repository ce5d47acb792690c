package sdk

import (
	"os"
	"sync"
	"time"
)

// A job's processes may outlive their parents: a command run as `setsid
// daemon &`, or a program that double-forks, leaves its process group and
// session, and would be re-parented to init, out of the runtime's sight. A
// reusable runtime process would then hand those to the next job, which
// would see them (and suspending it would freeze them). So a runtime served
// with ServeConfig.EndLeftovers makes its process a child subreaper (on
// Linux): every orphan among its jobs' descendants is re-parented to it.
// Such a process knows its own children (started through StartChild,
// until ChildWaited), reaps any other child that has exited, and when a
// job ends, ends every other child still running (SIGTERM, SIGKILL after
// a grace), so that the next job never sees them. If they cannot all be
// ended, the process stops calling itself reusable (Describe), and the host
// retires it.
//
// A process that runs several jobs at once (thread jobs) cannot tell whose
// a re-parented process is: it never ends leftovers while another of its
// jobs runs, only once the last running job has ended, and a job starting
// meanwhile waits for that.

// LeftoverGrace is how long a job's leftover processes have between SIGTERM
// and SIGKILL, unless the job was stopped with a grace of its own.
const LeftoverGrace = 2 * time.Second

// children is what the process knows of its own children. gate is held
// for reading while a child is being started and recorded, and for
// writing while children are listed and reaped, so that a child just
// started is never taken for a leftover.
var children struct {
	gate sync.RWMutex
	mu   sync.Mutex
	own  map[int]bool
}

// StartChild starts one child process with start (an exec.Cmd's Start,
// say) and records it as the runtime's own until ChildWaited. A runtime
// served with ServeConfig.EndLeftovers must start its processes so: any
// other child of its process is taken for a job's leftover, reaped once it
// has exited and ended when the job ends.
func StartChild(start func() (*os.Process, error)) (*os.Process, error) {
	children.gate.RLock()
	defer children.gate.RUnlock()
	p, err := start()
	if err == nil && p != nil {
		children.mu.Lock()
		if children.own == nil {
			children.own = map[int]bool{}
		}
		children.own[p.Pid] = true
		children.mu.Unlock()
	}
	return p, err
}

// ChildWaited says the runtime has waited for p, a child StartChild
// started: its pid is no longer the runtime's.
func ChildWaited(p *os.Process) {
	if p == nil {
		return
	}
	children.mu.Lock()
	delete(children.own, p.Pid)
	children.mu.Unlock()
}

// ownChild reports whether pid is a child the runtime started and has not
// waited for.
func ownChild(pid int) bool {
	children.mu.Lock()
	defer children.mu.Unlock()
	return children.own[pid]
}

// leftovers ends, in a process served with EndLeftovers, what a job left.
type leftovers struct {
	enabled bool
	// cleaning is held for writing while leftovers are ended, and for
	// reading while a job counts itself in: no job starts meanwhile.
	cleaning sync.RWMutex
	mu       sync.Mutex
	running  int
}

// begin counts a job in, once no leftovers are being ended.
func (l *leftovers) begin() {
	if !l.enabled {
		return
	}
	l.cleaning.RLock()
	l.mu.Lock()
	l.running++
	l.mu.Unlock()
	l.cleaning.RUnlock()
}

// end counts a job out and, if no other job runs, ends every process
// left: it reports false if some could not be ended.
func (l *leftovers) end(grace time.Duration) (int, bool) {
	if !l.enabled {
		return 0, true
	}
	l.cleaning.Lock()
	defer l.cleaning.Unlock()
	l.mu.Lock()
	l.running--
	others := l.running
	l.mu.Unlock()
	if others > 0 {
		// Another job's, perhaps: left for the last job's end.
		reapStrays()
		return 0, true
	}
	return endStrays(grace)
}
