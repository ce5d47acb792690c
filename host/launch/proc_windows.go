package launch

import (
	"os"
	"os/exec"
	"syscall"

	"github.com/bgjob/bgjob/sdk/process"
)

// setProcAttr runs the process as another user through the logon token the
// host got for them (LogonUser); without one, as the host's user.
func setProcAttr(cmd *exec.Cmd, id Identity) {
	if id.Token != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Token: syscall.Token(id.Token)}
	}
}

func makeSockDir(dir string, _ Identity) error { return os.MkdirAll(dir, 0o700) }

func alive(pid int) bool { return process.Alive(pid) }

func endSession(pid int) int { return process.KillSession(pid) }

// pinsSockets: go-plugin listens on TCP here; there is no socket to pin.
const pinsSockets = false

func pinSocket(string, string) error { return nil }

func killPid(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func ownBy(*os.File, Identity) error { return nil }

const oNoFollow = 0
