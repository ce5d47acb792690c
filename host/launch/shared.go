package launch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk"
)

// sharedProc is a process that runs several jobs at once (thread jobs):
// one per Spec, held by a handle per job.
type sharedProc struct {
	p     *child
	key   key
	refs  int
	timer *time.Timer // ends it once idle; nil while held
	// reattached: found again after a host restart; it serves the jobs it
	// had and ends with the last of them (new jobs start their own).
	reattached bool
}

// LaunchShared returns a handle to spec's shared process, starting it if
// none runs. It implements Sharer.
func (g *GoPlugin) LaunchShared(ctx context.Context, spec *Spec) (Process, error) {
	k := keyOf(spec)
	g.mu.Lock()
	if sp := g.shared[k]; sp != nil && !sp.p.Exited() {
		g.holdLocked(sp)
		g.mu.Unlock()
		return &sharedHandle{sp: sp, g: g}, nil
	}
	g.mu.Unlock()
	sockDir, err := os.MkdirTemp(g.opts.RunDir, "spare")
	if err != nil {
		return nil, fmt.Errorf("cannot create a socket directory for the runtime: %w", err)
	}
	// Its log is its own: it outlives any one job.
	logPath := filepath.Join(g.opts.LogDir, filepath.Base(sockDir)+".runtime.log")
	s := *spec
	s.Workdir = g.opts.RunDir
	p, err := g.start(&s, sockDir, logPath, []string{sdk.EnvShared + "=1"})
	if err != nil {
		os.Remove(logPath)
		return nil, err
	}
	p.attach.Shared = true
	g.mu.Lock()
	defer g.mu.Unlock()
	if old := g.shared[k]; old != nil && !old.p.Exited() {
		// Another job started one meanwhile: share that, end ours.
		g.holdLocked(old)
		go g.drop(p)
		return &sharedHandle{sp: old, g: g}, nil
	}
	sp := &sharedProc{p: p, key: k}
	g.shared[k] = sp
	g.holdLocked(sp)
	return &sharedHandle{sp: sp, g: g}, nil
}

// holdLocked takes a hold on sp, stopping its idle timer.
func (g *GoPlugin) holdLocked(sp *sharedProc) {
	sp.refs++
	if sp.timer != nil && sp.timer.Stop() {
		g.wg.Done()
	}
	sp.timer = nil
}

// releaseShared lets go of a hold on sp; the last one starts its idle
// timer (or, for a reattached process, ends it).
func (g *GoPlugin) releaseShared(sp *sharedProc) {
	g.mu.Lock()
	sp.refs--
	if sp.refs > 0 {
		g.mu.Unlock()
		return
	}
	if sp.reattached || g.ctx.Err() != nil || sp.p.Exited() {
		g.forgetLocked(sp)
		g.mu.Unlock()
		g.drop(sp.p)
		return
	}
	g.wg.Add(1)
	sp.timer = time.AfterFunc(g.opts.SpareIdle, func() {
		defer g.wg.Done()
		g.mu.Lock()
		idle := sp.refs == 0 && sp.timer != nil
		if idle {
			g.forgetLocked(sp)
		}
		g.mu.Unlock()
		if idle {
			g.drop(sp.p)
		}
	})
	g.mu.Unlock()
}

func (g *GoPlugin) forgetLocked(sp *sharedProc) {
	if g.shared[sp.key] == sp {
		delete(g.shared, sp.key)
	}
	if g.sharedByPid[sp.p.Pid()] == sp {
		delete(g.sharedByPid, sp.p.Pid())
	}
}

// reattachShared is Reattach for a shared process: the jobs an earlier
// host ran in it get handles to one connection.
func (g *GoPlugin) reattachShared(a *Attach, logPath string) (Process, error) {
	// One connection per process, however many of its jobs a host
	// reattaches at once: the second waits for the first's.
	g.attachShared.Lock()
	defer g.attachShared.Unlock()
	g.mu.Lock()
	if sp := g.sharedByPid[a.Pid]; sp != nil && !sp.p.Exited() {
		g.holdLocked(sp)
		g.mu.Unlock()
		return &sharedHandle{sp: sp, g: g}, nil
	}
	g.mu.Unlock()
	p, err := g.reattach(a, logPath)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	sp := &sharedProc{p: p, refs: 1, reattached: true}
	g.sharedByPid[a.Pid] = sp
	return &sharedHandle{sp: sp, g: g}, nil
}

// sharedHandle is one job's hold on a shared process.
type sharedHandle struct {
	sp   *sharedProc
	g    *GoPlugin
	done bool
}

func (h *sharedHandle) Conn() protocol.Conn { return h.sp.p.Conn() }
func (h *sharedHandle) Attach() *Attach     { return h.sp.p.Attach() }
func (h *sharedHandle) Pid() int            { return h.sp.p.Pid() }
func (h *sharedHandle) Exited() bool        { return h.sp.p.Exited() }
func (h *sharedHandle) ExitStatus() string  { return h.sp.p.ExitStatus() }

// Kill kills the shared process: every job it runs fails with it. The host
// kills only a runtime that does not answer, which fails them anyway.
func (h *sharedHandle) Kill() { h.sp.p.Kill() }

// Release lets go of this job's hold.
func (h *sharedHandle) Release() {
	if h.done {
		return
	}
	h.done = true
	h.g.releaseShared(h.sp)
}
