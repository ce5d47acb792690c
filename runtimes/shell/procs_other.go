//go:build !unix

package shell

import "os/exec"

// Without process groups a command is tracked as itself: a stop kills it
// (there is no SIGTERM to send), not what it started.
func setProcessGroup(*exec.Cmd) {}

func signalGroup(_ int, tp *trackedProc, _ bool) {
	if !tp.reaped {
		_ = tp.p.Kill()
	}
}

func groupAlive(int) bool { return false }

func signalOf(*exec.ExitError) (uint8, bool) { return 0, false }

func isETXTBSY(error) bool { return false }

func isENOEXEC(error) bool { return false }
