package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk/process"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// procRunner is go-plugin's runner for a process the launcher starts. It
// starts the command as go-plugin's own runner does; what it adds is the
// check of the address the plugin's handshake names (PluginToHost), which
// go-plugin dials as soon as it has it.
//
// The plugin runs as the job's user, who can make it print any address.
// So the address must be a socket in the directory made for the process,
// and it is linked into a directory only the host may enter (pin) before it
// is checked: the user can swap their own directory's entries, not that
// one's, so the socket checked is the socket go-plugin then dials. The
// check is the kernel's word on who listens there: the process started
// here, as the user asked for (protocol.Peer).
type procRunner struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
	pin, record    string
	// peer is the process: its pid once started, its uid and socket
	// directory; start is its start time, which with the pid names it.
	peer  *protocol.Peer
	start uint64
	// tail keeps what the process last wrote to its standard error, and
	// logPath is its log, both for Diagnose.
	tail    *stderrTail
	logPath string
	// ended is how the process ended, once Wait has returned.
	ended atomic.Pointer[string]
	// tied: the process dies with the launcher (tieToLauncher), so it is
	// started from the thread that lives as long (startTied).
	tied bool
}

func newProcRunner(cmd *exec.Cmd, uid uint32, sockDir, pin, record, logPath string) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	tail := newStderrTail(stderr)
	return &procRunner{cmd: cmd, stdout: stdout, stderr: tail, tail: tail, logPath: logPath, pin: pin, record: record,
		peer: &protocol.Peer{UID: uid, Dir: sockDir}}, nil
}

// runnerFunc is the runner protocol.ClientOptions takes; r gets the
// command go-plugin completed.
func (r *procRunner) runnerFunc(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
	return r, nil
}

func (r *procRunner) Start(context.Context) error {
	start := r.cmd.Start
	if r.tied {
		start = func() error { return startTied(r.cmd.Start) }
	}
	if err := start(); err != nil {
		return err
	}
	r.peer.Pid = r.cmd.Process.Pid
	r.start, _ = process.StartTime(r.peer.Pid)
	// Recorded before anything else: a host killed from now on leaves
	// the next one the process's pid and start time (Sweep).
	if err := recordProc(r.record, r.peer.Pid, r.start); err != nil {
		_ = r.cmd.Process.Kill()
		return err
	}
	return nil
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	if ps := r.cmd.ProcessState; ps != nil {
		how := ps.String() // "exit status 2", "signal: killed"
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			how += " (SIGKILL: sent by another process, or by the kernel when memory ran out)"
		}
		r.ended.Store(&how)
	}
	return err
}

// exitStatus is how the process ended; "" until it has.
func (r *procRunner) exitStatus() string {
	if how := r.ended.Load(); how != nil {
		return *how
	}
	return ""
}

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.cmd.Path }
func (r *procRunner) ID() string            { return strconv.Itoa(r.peer.Pid) }

// Diagnose says why the handshake failed, with what the process last
// wrote to its standard error (a plugin that cannot start says why there)
// and where its log is.
func (r *procRunner) Diagnose(context.Context) string {
	msg := "the runtime did not complete go-plugin's handshake: it may not be a bgjob runtime, or not built for this machine"
	if w := r.tail.lastWords(time.Second); w != "" {
		msg += fmt.Sprintf("; the last it wrote to its standard error: %q", w)
	}
	return msg + " (its log: " + r.logPath + ")"
}

// PluginToHost checks the handshake's address and returns the pinned one
// for go-plugin to dial.
func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	p := r.peer
	if err := p.InDir(network, addr); err != nil {
		return "", "", err
	}
	if !pinsSockets {
		return network, addr, nil
	}
	if err := pinSocket(addr, r.pin); err != nil {
		return "", "", err
	}
	if err := checkListener(p, r.pin); err != nil {
		os.Remove(r.pin)
		return "", "", err
	}
	return "unix", r.pin, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// checkListener connects to the socket at path and checks that p listens
// there.
func checkListener(p *protocol.Peer, path string) error {
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return fmt.Errorf("cannot connect to the runtime process %d: %w", p.Pid, err)
	}
	defer c.Close()
	return p.Check(c)
}
