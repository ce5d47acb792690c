// Package fakert is a launcher for tests that runs jobs in this process, by
// a tiny script language, instead of starting runtime plugins. It speaks the
// host's side of the protocol (protocol.Conn) with the real framing,
// numbering, acknowledgement and resending, so the host's state machine
// (queue, stop, remove, reattach, failures) is tested exactly, with no
// plugin binary and no sleeps: a job waits on a named gate the test opens.
//
// A script is commands separated by ';' or newlines, words by spaces:
//
//	echo WORDS       a line of text on the output stream (as a chunk)
//	echoerr WORDS    a line of text on the error stream
//	warn|verbose|debug|info WORDS   a message record of that stream
//	output TYPE VALUE              a typed output record
//	progress PERCENT ACTIVITY      a progress record
//	lines N [PREFIX] N lines PREFIX1..PREFIXN, written as a runtime would
//	seqw N W         N lines, the numbers 1..N zero-padded to W digits
//	args             a line "args: ARG..." with the job's arguments
//	cat              the job's input, as lines of output
//	wait GATE        block until the test opens GATE (or the job is stopped)
//	sleep            block until the job is stopped
//	hang             block and ignore stops; only a kill ends it
//	crash            the runtime process dies
//	exit N           end the job: Completed for 0, else Failed
//
// A job that reaches the end of its script completes.
package fakert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/launch"
)

// Launcher is a launch.Launcher whose processes live in this process. Keep
// one across host restarts: its processes outlive a host, as runtimes do.
type Launcher struct {
	mu      sync.Mutex
	changed *sync.Cond
	procs   map[int]*Process
	nextPid int
	gates   map[string]chan struct{}
	runs    map[uint64]int      // job id: how many times it started
	acks    map[uint64][]string // job id: its acknowledgements, "seq" or "seq done"
	// holdStreams has a job's stream send nothing until the job ended
	// (HoldStreams).
	holdStreams bool
	launches    int
	launchErr   error
	// reuse has processes taken back by Recycle and handed out again by
	// Launch (Reuse); holdStops has every Stop wait for the gate of that
	// name first (HoldStops).
	reuse     bool
	kept      []*Process
	holdStops string
	// holdLaunches has every Launch wait for the gate of that name
	// (HoldLaunches); held counts those waiting.
	holdLaunches string
	held         int
	// loseReleases: Release leaves the process running (LoseReleases).
	loseReleases bool
	// answers: the processes say with each job's end whether they take
	// another, and take its acknowledgement late (AnswerReuse).
	answers bool
}

// New returns a launcher with no processes.
func New() *Launcher {
	l := &Launcher{procs: map[int]*Process{}, nextPid: 100000, gates: map[string]chan struct{}{}, runs: map[uint64]int{}, acks: map[uint64][]string{}}
	l.changed = sync.NewCond(&l.mu)
	return l
}

var _ launch.Launcher = (*Launcher)(nil)

// Launch starts a fake process for spec.
func (l *Launcher) Launch(ctx context.Context, spec *launch.Spec) (launch.Process, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holdLaunches != "" {
		l.held++
		l.changed.Broadcast()
		_ = l.passLocked(ctx, l.holdLaunches)
		l.held--
	}
	if err := l.launchErr; err != nil {
		l.launchErr = nil
		return nil, err
	}
	for len(l.kept) > 0 {
		p := l.kept[len(l.kept)-1]
		l.kept = l.kept[:len(l.kept)-1]
		if !p.exited {
			return p, nil
		}
	}
	l.launches++
	l.nextPid++
	p := &Process{l: l, pid: l.nextPid, spec: *spec, jobs: map[uint64]*run{}}
	l.procs[p.pid] = p
	return p, nil
}

// Reuse has the launcher keep a process Recycle offers back and hand it
// to the next Launch, as a reusable runtime's: the process forgets the
// jobs whose end was acknowledged, as the SDK's does.
func (l *Launcher) Reuse() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reuse = true
}

// AnswerReuse has the processes answer as a protocol 2 runtime built with
// the SDK does: each job's end says whether the process takes another (yes
// with Reuse, else no), and the end's acknowledgement may come late
// (protocol.EndAcker): the log shows it as "SEQ done late".
func (l *Launcher) AnswerReuse() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers = true
}

// HoldLaunches has every Launch wait until the gate of that name opens
// (Open), as a runtime that takes long to start would.
func (l *Launcher) HoldLaunches(gate string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holdLaunches = gate
}

// AwaitHeld waits until n Launches wait at HoldLaunches' gate.
func (l *Launcher) AwaitHeld(n int) error {
	if !l.await(10*time.Second, func() bool { return l.held >= n }) {
		return fmt.Errorf("fewer than %d launches waiting after 10s", n)
	}
	return nil
}

// Kept is how many processes Recycle kept that no Launch took yet.
func (l *Launcher) Kept() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.kept)
}

// HoldStops has every Stop wait until the gate of that name opens (Open)
// before it reaches the job, as a stop a busy host sends late would.
func (l *Launcher) HoldStops(gate string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holdStops = gate
}

// Reattach finds a fake process by its pid.
func (l *Launcher) Reattach(a *launch.Attach, _ string) (launch.Process, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.procs[a.Pid]
	if p == nil || p.exited {
		return nil, fmt.Errorf("the runtime process %d is gone", a.Pid)
	}
	return p, nil
}

// Close does nothing: fake processes, like real ones, outlive their host.
func (l *Launcher) Close() error { return nil }

// FailNextLaunch makes the next Launch fail with err.
func (l *Launcher) FailNextLaunch(err error) {
	l.mu.Lock()
	l.launchErr = err
	l.mu.Unlock()
}

// Launches is how many processes were launched.
func (l *Launcher) Launches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.launches
}

// Runs is how many times job id was started in any process.
func (l *Launcher) Runs(id uint64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[id]
}

// HoldStreams has every job's stream send nothing until the job ended, so
// that its last records and its end go out in one batch, as the SDK sends
// them for a job that ended before they went out.
func (l *Launcher) HoldStreams() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holdStreams = true
}

// AckLog is the acknowledgements job id's runtime got, in order: "SEQ" for
// records up to SEQ, "SEQ done" for those and the end.
func (l *Launcher) AckLog(id uint64) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks[id])
}

func (l *Launcher) gate(name string) chan struct{} {
	g := l.gates[name]
	if g == nil {
		g = make(chan struct{})
		l.gates[name] = g
	}
	return g
}

// Open opens gate name: jobs waiting on it go on, and later ones pass.
func (l *Launcher) Open(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.gate(name)
	select {
	case <-g:
	default:
		close(g)
	}
}

// Crash makes the process running job id die, as a kill -9 would.
func (l *Launcher) Crash(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		if p.jobs[id] != nil {
			p.exitLocked()
		}
	}
}

// WaitBlocked waits until job id is blocked in wait, sleep or hang, for
// at most a minute (then it fails).
func (l *Launcher) WaitBlocked(id uint64) error {
	blocked := func() bool {
		for _, p := range l.procs {
			if r := p.jobs[id]; r != nil && r.blocked {
				return true
			}
		}
		return false
	}
	if !l.await(time.Minute, blocked) {
		return fmt.Errorf("job %d did not block within a minute", id)
	}
	return nil
}

// await waits, at most d, until ok (called under the launcher's lock
// each time something changes) says so, and reports whether it did.
func (l *Launcher) await(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	t := time.AfterFunc(d, func() {
		l.mu.Lock()
		l.changed.Broadcast()
		l.mu.Unlock()
	})
	defer t.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		l.changed.Wait()
	}
	return true
}

// passLocked waits, with the launcher's lock let go, until the gate of
// that name opens or ctx ends, and says which (nil: the gate opened).
func (l *Launcher) passLocked(ctx context.Context, name string) error {
	g := l.gate(name)
	l.mu.Unlock()
	defer l.mu.Lock()
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Alive reports how many fake processes have not exited.
func (l *Launcher) Alive() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.procs {
		if !p.exited {
			n++
		}
	}
	return n
}

// Process is one fake runtime process.
type Process struct {
	l      *Launcher
	pid    int
	spec   launch.Spec
	jobs   map[uint64]*run // guarded by l.mu
	exited bool            // guarded by l.mu
}

var _ launch.Process = (*Process)(nil)

func (p *Process) Conn() protocol.Conn {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	if p.l.answers {
		return answeringConn{conn{p}}
	}
	return conn{p}
}

func (p *Process) Attach() *launch.Attach {
	return &launch.Attach{Network: "fake", Pid: p.pid, Protocol: p.spec.Protocol, Binary: p.spec.Binary, SockDir: sockDir(p.pid)}
}

// sockDir is a fake process's socket directory, which its attach record
// names (see Sweeping).
func sockDir(pid int) string { return fmt.Sprintf("fake-%d", pid) }

// Sweeping is l as a launch.Sweeper: a host opened with it ends, after a
// restart, every live fake process no running job's attach record names,
// as the real launcher does with what a killed host left.
type Sweeping struct{ *Launcher }

var _ launch.Sweeper = Sweeping{}

// Sweep ends the live processes whose socket directory is not in use.
func (s Sweeping) Sweep(inUse func(sockDir string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, p := range s.procs {
		if !p.exited && !inUse(sockDir(pid)) {
			p.exitLocked()
		}
	}
}

func (p *Process) Pid() int { return p.pid }

func (p *Process) Exited() bool {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	return p.exited
}

func (p *Process) Kill() {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	p.exitLocked()
}

func (p *Process) Release() {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	if !p.l.loseReleases {
		p.exitLocked()
	}
}

// LoseReleases has Release leave processes running, as a host killed
// before its end of a runtime landed does.
func (l *Launcher) LoseReleases() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loseReleases = true
}

// Recycle keeps the process for the next Launch if the launcher reuses
// processes (Reuse).
func (p *Process) Recycle() bool {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	if !p.l.reuse || p.exited {
		return false
	}
	for id, r := range p.jobs {
		if r.doneAcked {
			delete(p.jobs, id)
		}
	}
	p.l.kept = append(p.l.kept, p)
	return true
}

// exitLocked ends the process: its jobs stop where they are and its
// streams break.
func (p *Process) exitLocked() {
	if p.exited {
		return
	}
	p.exited = true
	for _, r := range p.jobs {
		r.cancel(errExited)
	}
	p.l.changed.Broadcast()
}

var errExited = errors.New("the runtime process exited")
