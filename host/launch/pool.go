package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/internal/safepath"
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
// starting, or another process of k runs a job and comes back after it.
func (g *GoPlugin) refill(spec *Spec, k key) {
	g.mu.Lock()
	if len(g.spares[k]) > 0 || g.starting[k] || g.busy[k] > 1 || g.ctx.Err() != nil || g.opts.NoSpares {
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
// for it (see GoPlugin): its log is known by its own name alone again.
func (g *GoPlugin) keep(p *child) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil || len(g.spares[p.key]) >= maxIdle+min(g.peak[p.key], idleCap) {
		return false
	}
	if p.jobLog != "" {
		// The log has its own name still: the job's goes, if it is still
		// this log's (its removal may have taken it already, and a
		// restart given it to the next attempt's process).
		if sameFile(p.jobLog, p.logPath) {
			_ = safepath.RemoveFile(p.jobLog)
		}
		p.jobLog = ""
		g.addLocked(p.key, p)
		return true
	}
	idleLog := filepath.Join(g.opts.LogDir, filepath.Base(p.sockDir)+".runtime.log")
	if err := renameLog(p.logPath, idleLog); err == nil {
		p.logPath = idleLog
	} else if !os.IsNotExist(err) {
		return false
	} else {
		// The job and its log are gone already: the process logs on to
		// the unlinked file until a job takes it and names it afresh.
		p.logPath = idleLog
		if f, err := os.OpenFile(idleLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND|oNoFollow, 0o600); err == nil {
			f.Close()
		} else {
			return false
		}
	}
	g.addLocked(p.key, p)
	return true
}

// sameFile reports whether a and b name the same file.
func sameFile(a, b string) bool {
	fa, err := os.Lstat(a)
	if err != nil {
		return false
	}
	fb, err := os.Lstat(b)
	return err == nil && os.SameFile(fa, fb)
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
		if idle {
			// Fewer jobs come now: keep fewer idle from here on.
			if g.peak[k] = g.busy[k]; g.peak[k] == 0 {
				delete(g.peak, k)
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

// procSuffix names a process's record in StateDir: "PID START", the
// process as the host recorded it when it started it.
const procSuffix = ".proc"

// recordProc records process pid (started at start) at path, in the
// launcher's own directory, so that a host that is killed leaves the next
// one a list of what it started (Sweep). Never in the socket directory:
// that is the process's user's, who could plant a link there for the host
// to write through, or write another pid for the next host to kill.
func recordProc(path string, pid int, start uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|oNoFollow, 0o600)
	if err != nil {
		return fmt.Errorf("cannot record the runtime process: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d %d\n", pid, start)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// recordPath is where the process whose socket directory is sockDir is
// recorded (recordProc).
func (g *GoPlugin) recordPath(sockDir string) string {
	return filepath.Join(g.opts.StateDir, filepath.Base(sockDir)+procSuffix)
}

// Sweeper is a Launcher that cleans up after a host that was killed.
type Sweeper interface {
	// Sweep ends the spares a killed host left (they never got a job, or
	// finished theirs: nothing is lost) and removes the socket
	// directories and what the launcher kept of processes that no running
	// job uses; inUse says which socket directories a running job's
	// process has.
	Sweep(inUse func(sockDir string) bool)
}

// Sweep implements Sweeper. Every process a killed host started is in the
// launcher's own records; those no running job uses (spares, idle reusable
// runtimes, shared processes whose jobs are over, runtimes of jobs that
// finished or cannot be reattached) have nothing left to deliver and are
// ended, with what they started; each only if its pid still names the
// process recorded (pid and start time), so a reused pid is safe.
func (g *GoPlugin) Sweep(inUse func(sockDir string) bool) {
	used := func(name string) bool { return inUse(filepath.Join(g.opts.RunDir, name)) }
	entries, _ := os.ReadDir(g.opts.StateDir)
	for _, e := range entries {
		name, isProc := strings.CutSuffix(e.Name(), procSuffix)
		if !isProc {
			name = strings.TrimSuffix(e.Name(), ".sock")
		}
		if used(name) {
			continue
		}
		path := filepath.Join(g.opts.StateDir, e.Name())
		if isProc {
			if b, err := os.ReadFile(path); err == nil {
				var pid int
				var start uint64
				if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err == nil && killStray(pid, start) {
					waitGone(pid, start)
					endSession(pid)
				}
			}
		}
		os.Remove(path)
	}
	dirs, _ := os.ReadDir(g.opts.RunDir)
	for _, e := range dirs {
		if !used(e.Name()) {
			os.RemoveAll(filepath.Join(g.opts.RunDir, e.Name()))
		}
	}
}
