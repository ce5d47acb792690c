//go:build unix

package runner

import (
	"strings"
	"syscall"

	"github.com/bgjob/bgjob/host/internal/errkind"
	"golang.org/x/sys/unix"
)

// parseSignal reads stop --signal's name: TERM, SIGTERM or term.
func parseSignal(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if sig := unix.SignalNum(n); sig != 0 && sig != unix.SIGSTOP && sig != unix.SIGCONT {
		return sig, nil
	}
	return 0, errkind.Errorf(errkind.ErrBadRequest, "--signal %q: give a signal's name, such as TERM, INT, HUP, KILL or USR1 (STOP and CONT are suspend and resume)", name)
}
