package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

// A spare is a process ready for a job: one started ahead of need, or one
// that ran a job to a clean end and came back (a reusable runtime's). It
// ends when it waits longer than SpareIdle.
type spare struct {
	p     *child
	timer *time.Timer
}

// takeSpare returns a ready process for k, the most recent first (its
// caches are warmest), if one is there and alive.
func (g *GoPlugin) takeSpare(k key) *child {
	for {
		g.mu.Lock()
		sps := g.spares[k]
		if len(sps) == 0 {
			g.mu.Unlock()
			return nil
		}
		sp := sps[len(sps)-1]
		g.spares[k] = sps[:len(sps)-1]
		g.mu.Unlock()
		g.stopTimer(sp)
		if !sp.p.Exited() {
			return sp.p
		}
		g.drop(sp.p)
	}
}

// refill starts a spare for spec in the background, unless one is ready or
// starting.
func (g *GoPlugin) refill(spec *Spec, k key) {
	g.mu.Lock()
	if len(g.spares[k]) > 0 || g.starting[k] || g.ctx.Err() != nil || g.opts.NoSpares {
		g.mu.Unlock()
		return
	}
	g.starting[k] = true
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
		} else {
			// Written off the job's path (a spare starts in the
			// background), so that the next host can end a spare this
			// host leaves behind when it is killed (EndOrphan).
			_ = os.WriteFile(filepath.Join(sockDir, orphanFile), []byte(fmt.Sprintf("%d\n%s\n", p.Pid(), spec.Binary)), 0o600)
		}
	}
	g.mu.Lock()
	delete(g.starting, k)
	if err != nil || g.ctx.Err() != nil {
		g.mu.Unlock()
		if err != nil {
			g.opts.Logger.Warn("cannot start a spare runtime", "binary", spec.Binary, "err", err)
		}
		if p != nil {
			g.drop(p)
		}
		return
	}
	g.addLocked(k, p)
	g.mu.Unlock()
}

// keep takes back a process whose job ended cleanly, if there is room
// for it: its log gets a name of its own again (the job's is the job's).
func (g *GoPlugin) keep(p *child) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil || len(g.spares[p.key]) >= maxIdle {
		return false
	}
	idleLog := filepath.Join(g.opts.LogDir, filepath.Base(p.sockDir)+".runtime.log")
	if err := os.Rename(p.logPath, idleLog); err == nil {
		p.logPath = idleLog
	} else if !os.IsNotExist(err) {
		return false
	} else {
		// The job and its log are gone already: the process logs on to
		// the unlinked file until a job takes it and names it afresh.
		p.logPath = idleLog
		if f, err := os.OpenFile(idleLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			f.Close()
		} else {
			return false
		}
	}
	g.addLocked(p.key, p)
	return true
}

// addLocked makes p a spare for k, ended after SpareIdle unused.
func (g *GoPlugin) addLocked(k key, p *child) {
	sp := &spare{p: p}
	g.spares[k] = append(g.spares[k], sp)
	g.wg.Add(1)
	sp.timer = time.AfterFunc(g.opts.SpareIdle, func() {
		defer g.wg.Done()
		g.mu.Lock()
		idle := false
		for i, x := range g.spares[k] {
			if x == sp {
				g.spares[k] = append(g.spares[k][:i:i], g.spares[k][i+1:]...)
				idle = true
				break
			}
		}
		g.mu.Unlock()
		if idle {
			g.drop(sp.p)
		}
	})
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

// orphanFile, in a spare's socket directory, says which process and binary
// the spare is.
const orphanFile = "runtime.pid"

// EndOrphan ends the spare (or kept process) whose socket directory dir is,
// left by a host that was killed: such a process never got a job, or has
// finished its job, so nothing is lost; left alone, it would wait for a
// host until its idle timeout. The process is killed only if it still runs
// the binary it was started from, so a reused pid is safe.
func EndOrphan(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, orphanFile))
	if err != nil {
		return
	}
	pidText, binary, _ := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
	if pid, err := strconv.Atoi(pidText); err == nil && pid > 1 {
		killStray(pid, binary)
	}
}
