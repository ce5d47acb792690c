package launch

import (
	"os"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

// A spare is a process started ahead of need. It is a process not yet used,
// not a pool of shared ones: each still runs one job.
type spare struct {
	p     *child
	timer *time.Timer
}

// takeSpare returns the spare for k, if one is ready and alive.
func (g *GoPlugin) takeSpare(k key) *child {
	g.mu.Lock()
	sp := g.spares[k]
	if sp != nil {
		delete(g.spares, k)
	}
	g.mu.Unlock()
	if sp == nil {
		return nil
	}
	g.stopTimer(sp)
	if sp.p.Exited() {
		g.drop(sp.p)
		return nil
	}
	return sp.p
}

// refill starts a spare for spec in the background, unless one is there or
// starting.
func (g *GoPlugin) refill(spec *Spec, k key) {
	g.mu.Lock()
	if _, ok := g.spares[k]; ok || g.ctx.Err() != nil || g.opts.NoSpares {
		g.mu.Unlock()
		return
	}
	g.spares[k] = nil // starting
	g.wg.Add(1)
	g.mu.Unlock()
	sp := *spec
	go func() {
		defer g.wg.Done()
		g.startSpare(&sp, k)
	}()
}

func (g *GoPlugin) startSpare(spec *Spec, k key) {
	// Unique across hosts: a job may still run in a spare an earlier host
	// started, and its socket lives in that spare's directory.
	sockDir, err := os.MkdirTemp(g.opts.RunDir, "spare")
	var p *child
	if err == nil {
		logPath := filepath.Join(g.opts.LogDir, filepath.Base(sockDir)+".runtime.log")
		// The spare ends itself if its host dies before using it.
		idle := sdk.EnvIdleTimeout + "=" + (g.opts.SpareIdle + 30*time.Second).String()
		spec.Workdir = g.opts.RunDir
		p, err = g.start(spec, sockDir, logPath, []string{idle})
		if err != nil {
			os.Remove(logPath)
		}
	}
	g.mu.Lock()
	if err != nil || g.ctx.Err() != nil {
		delete(g.spares, k)
		g.mu.Unlock()
		if err != nil {
			g.opts.Logger.Warn("cannot start a spare runtime", "binary", spec.Binary, "err", err)
		}
		if p != nil {
			g.drop(p)
		}
		return
	}
	sp := &spare{p: p}
	g.spares[k] = sp
	g.wg.Add(1)
	sp.timer = time.AfterFunc(g.opts.SpareIdle, func() {
		defer g.wg.Done()
		g.mu.Lock()
		idle := g.spares[k] == sp
		if idle {
			delete(g.spares, k)
		}
		g.mu.Unlock()
		if idle {
			g.drop(sp.p)
		}
	})
	g.mu.Unlock()
}

// stopTimer stops a spare's idle timer; one that had not fired will not
// count itself done.
func (g *GoPlugin) stopTimer(sp *spare) {
	if sp.timer.Stop() {
		g.wg.Done()
	}
}

// drop ends a spare nobody took, and its log.
func (g *GoPlugin) drop(p *child) {
	p.Release()
	os.Remove(p.logPath)
}
