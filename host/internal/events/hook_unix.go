//go:build unix

package events

import (
	"os"
	"os/exec"
	"syscall"

	"github.com/bgjob/bgjob/host/store"
)

// shell runs a hook's command.
var shell = []string{"/bin/sh", "-c"}

// setUser makes the hook lead a process group of its own, so that a
// timeout kills everything it started, and run as id (the job's user on a
// system host) from its first instruction.
func setUser(cmd *exec.Cmd, id *store.Identity) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if id != nil && int(id.UID) != os.Getuid() {
		attr.Credential = &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
