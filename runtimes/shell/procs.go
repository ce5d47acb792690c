package shell

import (
	"os"
	"sync"
	"time"
)

// reapWait bounds how long Run waits, after SIGKILL, for the killed process
// groups to disappear (an orphan is gone only once init has reaped it).
const reapWait = time.Second

// procTracker knows the process groups a session started (on Unix, each
// external command leads a group of its own, keyed by its pid) and ends them
// all on shutdown: SIGTERM, then SIGKILL after the grace period. A group is
// tracked until it is empty, not just until its leader exits, so that a
// command's background children are stopped too.
type procTracker struct {
	mu     sync.Mutex
	procs  map[int]*trackedProc
	phase  int // running, terminating or killing
	timer  *time.Timer
	once   sync.Once
	killed chan struct{} // closed when SIGKILL has been sent
}

const (
	phaseRunning = iota
	phaseTerminating
	phaseKilling
)

type trackedProc struct {
	p      *os.Process
	reaped bool // the leader was waited for; the group may live on
}

func newProcTracker() *procTracker {
	return &procTracker{procs: map[int]*trackedProc{}, killed: make(chan struct{})}
}

// add tracks a started process. One that starts while the session is
// shutting down gets the signal the others got.
func (t *procTracker) add(p *os.Process) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := &trackedProc{p: p}
	t.procs[p.Pid] = tp
	switch t.phase {
	case phaseTerminating:
		signalGroup(p.Pid, tp, false)
	case phaseKilling:
		signalGroup(p.Pid, tp, true)
	}
}

// reaped notes that a process was waited for; its group stays tracked while
// it has members.
func (t *procTracker) reaped(p *os.Process) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tp := t.procs[p.Pid]; tp != nil && tp.p == p {
		tp.reaped = true
		if !groupAlive(p.Pid) {
			delete(t.procs, p.Pid)
		}
	}
}

// shutdown ends every tracked group: SIGTERM now, SIGKILL after grace. Only
// the first call counts.
func (t *procTracker) shutdown(grace time.Duration) {
	t.once.Do(func() {
		t.signalAll(phaseTerminating)
		if grace <= 0 {
			t.kill()
			return
		}
		t.mu.Lock()
		t.timer = time.AfterFunc(grace, t.kill)
		t.mu.Unlock()
	})
}

func (t *procTracker) kill() {
	t.signalAll(phaseKilling)
	close(t.killed)
}

func (t *procTracker) signalAll(phase int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.phase = phase
	for pid, tp := range t.procs {
		if tp.reaped && !groupAlive(pid) {
			delete(t.procs, pid)
			continue
		}
		signalGroup(pid, tp, phase == phaseKilling)
	}
}

// live prunes empty groups and counts the others.
func (t *procTracker) live() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, tp := range t.procs {
		if tp.reaped && !groupAlive(pid) {
			delete(t.procs, pid)
		}
	}
	return len(t.procs)
}

// wait returns once every tracked group is gone, or a while after SIGKILL.
// Call it after shutdown, once no new process can start.
func (t *procTracker) wait() {
	var deadline time.Time
	for t.live() > 0 {
		select {
		case <-t.killed:
			if deadline.IsZero() {
				deadline = time.Now().Add(reapWait)
			} else if time.Now().After(deadline) {
				return
			}
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Nothing is left to kill: a SIGKILL still to come could only hit a
	// reused process group id.
	t.mu.Lock()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
}
