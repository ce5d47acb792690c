//go:build unix

package host

import (
	"os"
	"os/exec"
	"strconv"
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

// killStray kills process pid if it still runs binary (checked through
// /proc where there is one, so a recycled pid is left alone).
func killStray(pid int, binary string) {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || exe != binary {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
