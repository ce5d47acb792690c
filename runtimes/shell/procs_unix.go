//go:build unix

package shell

import (
	"errors"
	"os/exec"
	"syscall"

	"github.com/bgjob/bgjob/sdk/process"
	"golang.org/x/sys/unix"
)

// setProcessGroup makes the command the leader of a new process group, so
// that signals reach everything it starts. No parent-death signal: the
// runtime, and so the job, must outlive a host that goes away.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends SIGTERM (and SIGCONT, so that a stopped process gets
// it) or SIGKILL to the group, and to its leader directly in case it left
// the group.
func signalGroup(pgid int, tp *trackedProc, kill bool) {
	sig := unix.SIGTERM
	if kill {
		sig = unix.SIGKILL
	}
	_ = unix.Kill(-pgid, sig)
	if !tp.reaped {
		_ = tp.p.Signal(sig)
	}
	if !kill {
		_ = unix.Kill(-pgid, unix.SIGCONT)
	}
}

// groupAlive reports whether the process group has members that are not
// zombies. (Its id cannot be reused while it has members at all.)
func groupAlive(pgid int) bool { return process.GroupAlive(pgid) }

func signalOf(ee *exec.ExitError) (uint8, bool) {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return uint8(ws.Signal()), true
	}
	return 0, false
}

func isETXTBSY(err error) bool { return errors.Is(err, unix.ETXTBSY) }

func isENOEXEC(err error) bool { return errors.Is(err, unix.ENOEXEC) }
