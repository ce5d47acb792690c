package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// useSystem is --system: talk to the system host.
var useSystem bool

// systemSocket is the system host's socket the caller asked for: with
// --system the default one, or $BGJOB_SOCKET; "" for the user's own host.
func systemSocket() string {
	if s := os.Getenv("BGJOB_SOCKET"); s != "" {
		return s
	}
	if useSystem {
		return api.SystemSocket
	}
	return ""
}

// connect reaches the host: the system host if asked for (never started
// from here: it is a service), else the user's own, started if none runs.
func connect() (*api.Client, error) {
	if sock := systemSocket(); sock != "" {
		return api.DialSocket(sock)
	}
	home, err := api.DefaultHome()
	if err != nil {
		return nil, api.WithCode(api.ExitUnavailable, err)
	}
	return api.Connect(home, 10*time.Second, func() (<-chan error, error) { return startHost(home) })
}

// call sends req to the host and copies what it prints to our stdout and
// stderr, rendered for our terminal when there is one: colours, the
// table's width, and, for a call that follows jobs, progress bars.
func call(req *api.Request) error { return callTo(req, nil) }

// callTo is call with what the host prints to stdout going to out instead
// (nil: stdout), for a command that reads it itself.
func callTo(req *api.Request, out io.Writer) error {
	if err := checkColorMode(); err != nil {
		return err
	}
	if req.Term == nil && out == nil {
		req.Term = terminal(follows(req))
	}
	var stdout, stderr io.Writer = os.Stdout, os.Stderr
	if out != nil {
		stdout = out
	}
	var sent resume
	if req.Op == api.OpStart && req.Wait {
		req.Marks = true
		stdout, stderr = countable(stdout), countable(stderr)
	}
	var onProgress func(*api.Progress)
	if req.Term != nil && req.Term.Progress {
		view := newProgressView(os.Stderr)
		defer view.Close()
		onProgress, stderr = view.Update, view.Writer(os.Stderr)
		if isTerminal(os.Stdout) {
			stdout = view.Writer(os.Stdout)
		}
	}
	var code int
	var err error
	var intr atomic.Bool
	var mu sync.Mutex
	var cur *api.Client // the connection an interrupt closes; nil: none yet
	armed, stopSignals := onInterrupt(follows(req), func() bool {
		mu.Lock()
		defer mu.Unlock()
		if cur == nil {
			return false // nothing sent: the signal ends the CLI as usual
		}
		intr.Store(true)
		cur.Close() // the host sees the caller gone
		return true
	})
	for try := 0; ; try++ {
		var c *api.Client
		c, err = connect()
		if err != nil {
			stopSignals()
			return api.WithCode(api.ExitUnavailable, err)
		}
		armed()
		mu.Lock()
		cur = c
		mu.Unlock()
		c.Marked = sent.mark
		code, err = c.DoProgress(req, stdout, stderr, onProgress)
		mu.Lock()
		cur = nil
		mu.Unlock()
		c.Close()
		// A host that died just as we connected never saw the request:
		// connect again (starting a new host) and send it once more. One
		// that died in the middle of the call may have carried it out:
		// only a request the host recognises when it comes again (see
		// repeatable) is sent once more.
		var notSent *api.NotSentError
		if try == 0 && !intr.Load() && (errors.As(err, &notSent) || errors.Is(err, api.ErrConnectionLost) && repeatable(req)) {
			req.Resume = sent.list()
			continue
		}
		break
	}
	stopSignals()
	if intr.Load() {
		interrupted(req)
		return &silentError{code: api.ExitInterrupted}
	}
	if err == nil && code != 0 {
		return &silentError{code: code}
	}
	if errors.Is(err, api.ErrOutput) && req.Op == api.OpStart && req.Wait {
		// The host sees this command go, and stops and removes the job
		// that was in its foreground, as for Ctrl-C.
		return api.WithCode(api.ExitUnavailable, fmt.Errorf("%w; the job, if it is still running, is being stopped and removed", err))
	}
	var e *api.Error
	if errors.As(err, &e) && e.Err.Error() == "" {
		return &silentError{code: e.Code} // said already, on stderr
	}
	return err
}

// repeatable reports whether req may be sent again after the host vanished
// in the middle of it: a start naming its job's instance id, or a restart
// naming itself, which the host carries out at most once; or a wait, which
// changes nothing and, sent again, waits for the same jobs (those named,
// or of a group: the jobs go on while no host runs, and the next host
// takes them back), unless it chose them by the state they were in.
func repeatable(req *api.Request) bool {
	switch req.Op {
	case api.OpStart:
		return req.Start != nil && req.Start.InstanceID != ""
	case api.OpRestart:
		return req.Restart != nil && req.Restart.RequestID != ""
	case api.OpWait:
		return req.Filter == nil || req.Filter.State == ""
	}
	return false
}

// onInterrupt calls f on the first SIGINT or SIGTERM while on is set, until
// stop is called. f returns false when there is nothing to interrupt yet;
// the signal then ends the CLI as it would any program. The handler is
// armed in the background, not by the caller: the first signal.Notify
// waits for the Go runtime to start a thread for signals (0.16 ms of a
// start --wait here), which this way overlaps the connect; armed waits for
// it, before the request goes out.
func onInterrupt(on bool, f func() bool) (armed, stop func()) {
	if !on {
		return func() {}, func() {}
	}
	ch := make(chan os.Signal, 1)
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		close(ready)
		select {
		case sig := <-ch:
			if !f() {
				signal.Stop(ch) // its default action again
				raise(sig)
			}
		case <-done:
		}
		signal.Stop(ch)
	}()
	var once sync.Once
	return func() { <-ready }, func() { once.Do(func() { close(done) }) }
}

// hostBinary finds bgjobd: beside this executable (how `make build` and the
// release lay them out), else on PATH.
func hostBinary() (string, error) {
	if p := os.Getenv("BGJOB_HOSTD"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "bgjobd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("bgjobd")
	if err != nil {
		return "", fmt.Errorf("cannot find the host binary bgjobd beside bgjob or on PATH; set BGJOB_HOSTD")
	}
	return p, nil
}

// startHost starts bgjobd in the background, in its own session so it
// outlives this terminal, logging to host.log in its home. The channel gets
// the host's exit, should it end while the CLI still waits for it.
func startHost(home string) (<-chan error, error) {
	bin, err := hostBinary()
	if err != nil {
		return nil, err
	}
	logf, err := api.PrepareHome(home)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// The host outlives this command: it must not hold what the caller's
	// shell handed this one (a lock on fd 9, a pipe on fd 7), nor pass it
	// to its runtimes and jobs.
	if err := api.CloseOnExec(); err != nil {
		return nil, fmt.Errorf("cannot keep this command's open files from the host it starts: %w", err)
	}
	cmd := exec.Command(bin, "-home", home)
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Reaped either way, so that a host that exits at once does not
	// linger as a zombie while we wait for the socket.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}
