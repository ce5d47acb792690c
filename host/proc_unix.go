//go:build unix

package host

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup keeps a terminal's Ctrl-C aimed at the host from reaching
// the runtime.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
