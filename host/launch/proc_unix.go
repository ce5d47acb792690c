//go:build unix

package launch

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/bgjob/bgjob/sdk/process"
)

// setProcAttr makes the process lead a session of its own and, for
// another user, gives it that user's credentials from its first
// instruction. The session holds everything the job starts, whatever
// process groups it makes, so a runtime that dies leaves nothing the host
// cannot find (endSession); and a terminal's Ctrl-C aimed at the host does
// not reach it.
func setProcAttr(cmd *exec.Cmd, id Identity) {
	attr := &syscall.SysProcAttr{Setsid: true}
	if !id.IsHost() {
		attr.Credential = &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}
	}
	cmd.SysProcAttr = attr
}

// makeSockDir creates a socket directory only the process's user can use.
func makeSockDir(dir string, id Identity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !id.IsHost() {
		return os.Chown(dir, int(id.UID), int(id.GID))
	}
	return nil
}

func alive(pid int) bool { return process.Alive(pid) }

// endSession kills what is left of the session runtime pid led, once the
// runtime itself is gone.
func endSession(pid int) int { return process.KillSession(pid) }

// killStray kills process pid if it still runs binary (checked through
// /proc where there is one, so a recycled pid is left alone).
func killStray(pid int, binary string) {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || binary == "" || exe != binary {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func killPid(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// ownBy gives f to the process's user.
func ownBy(f *os.File, id Identity) error {
	if id.IsHost() {
		return nil
	}
	return f.Chown(int(id.UID), int(id.GID))
}
