package launch

import (
	"os"
	"os/exec"

	"github.com/bgjob/bgjob/sdk/process"
)

// setProcAttr: on Windows every process runs as the host's user (there is
// no system host and no --credential there), so there is nothing to set.
func setProcAttr(*exec.Cmd, Identity) {}

func makeSockDir(dir string, _ Identity) error { return os.MkdirAll(dir, 0o700) }

func alive(pid int) bool { return process.Alive(pid) }

func endSession(pid int) int { return process.KillSession(pid) }

// pinsSockets: go-plugin listens on TCP here; there is no socket to pin.
const pinsSockets = false

func pinSocket(string, string) error { return nil }

func killPid(pid int, _ uint64) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func ownBy(*os.File, Identity) error { return nil }

// ours: no start times here; a pid is taken as the process recorded.
func ours(int, uint64) bool { return true }

const oNoFollow = 0

// renameLog renames a runtime's log file.
func renameLog(from, to string) error { return os.Rename(from, to) }
