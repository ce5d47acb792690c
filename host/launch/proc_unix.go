//go:build unix

package launch

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/bgjob/bgjob/sdk/process"
)

// setProcAttr puts the process in its own process group and, for another
// user, gives it that user's credentials from its first instruction.
func setProcAttr(cmd *exec.Cmd, id Identity) {
	attr := &syscall.SysProcAttr{Setpgid: true}
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

// killStray kills process pid if it still runs binary (checked through
// /proc where there is one, so a recycled pid is left alone).
func killStray(pid int, binary string) {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || binary == "" || exe != binary {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
