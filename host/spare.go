package host

import (
	"os"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

// A spare is a runtime process started ahead of need. Starting a plugin
// (exec, Go runtime start-up, the go-plugin handshake, the gRPC dial) is
// most of a short job's latency, so after a job takes a runtime the host
// starts another of the same binary in the background, and the next job
// that wants that binary takes it ready-made. Every process still runs one
// job only: a spare is a process not yet used, not a pool of shared ones.
type spare struct {
	l       *launched
	logPath string
	logFile *os.File
}

// spareIdle is how long a spare waits for a job before the host ends it;
// the plugin itself gives up a little later, should the host be gone.
const spareIdle = time.Minute

// spareKey names a binary by path and content: a spare started before a
// reinstall must not run a job that asked for the new binary.
func spareKey(binary, sha string) string { return binary + "@" + sha }

// takeSpare returns the spare for key, if one is ready and alive.
func (h *Host) takeSpare(key string) *spare {
	h.mu.Lock()
	sp := h.spares[key]
	if sp != nil {
		delete(h.spares, key)
	}
	h.mu.Unlock()
	if sp == nil {
		return nil
	}
	if sp.l.client.Exited() {
		h.dropSpare(sp)
		return nil
	}
	return sp
}

// refillSpare starts a spare of binary (whose hash is sha) unless one is
// there or starting.
func (h *Host) refillSpare(binary, sha string) {
	key := spareKey(binary, sha)
	h.mu.Lock()
	if _, ok := h.spares[key]; ok || h.ctx.Err() != nil || h.opts.NoSpares {
		h.mu.Unlock()
		return
	}
	h.spares[key] = nil // starting
	h.mu.Unlock()

	// Unique across hosts: a job may still run in a spare an earlier host
	// started, and its socket lives in that spare's directory.
	sockDir, err := os.MkdirTemp(filepath.Join(h.opts.Home, "run"), "spare")
	if err != nil {
		h.mu.Lock()
		delete(h.spares, key)
		h.mu.Unlock()
		h.log.Warn("cannot start a spare runtime", "err", err)
		return
	}
	logPath := filepath.Join(h.opts.Home, "jobs", filepath.Base(sockDir)+".runtime.log")
	logger, f, err := jobLogger(logPath)
	var l *launched
	if err == nil {
		l, err = launch(&launchConfig{Binary: binary, Workdir: h.opts.Home,
			SockDir: sockDir, LogFile: logPath, Logger: logger,
			Env: []string{sdk.EnvIdleTimeout + "=" + (spareIdle + 30*time.Second).String()}})
	}
	h.mu.Lock()
	if err != nil || h.ctx.Err() != nil {
		delete(h.spares, key)
		h.mu.Unlock()
		if err != nil {
			h.log.Warn("cannot start a spare runtime", "binary", binary, "err", err)
		}
		if l != nil {
			l.end()
		}
		if f != nil {
			f.Close()
		}
		os.Remove(logPath)
		os.RemoveAll(sockDir)
		return
	}
	sp := &spare{l: l, logPath: logPath, logFile: f}
	h.spares[key] = sp
	h.mu.Unlock()
	time.AfterFunc(spareIdle, func() {
		h.mu.Lock()
		idle := h.spares[key] == sp
		if idle {
			delete(h.spares, key)
		}
		h.mu.Unlock()
		if idle {
			h.dropSpare(sp)
		}
	})
}

// dropSpare ends a spare nobody took.
func (h *Host) dropSpare(sp *spare) {
	sp.l.end()
	sp.logFile.Close()
	os.Remove(sp.logPath)
}

// closeSpares ends every spare; the host is closing.
func (h *Host) closeSpares() {
	h.mu.Lock()
	var all []*spare
	for b, sp := range h.spares {
		if sp != nil {
			all = append(all, sp)
		}
		delete(h.spares, b)
	}
	h.mu.Unlock()
	for _, sp := range all {
		h.dropSpare(sp)
	}
}
