package runner

import (
	"syscall"

	"github.com/bgjob/bgjob/host/internal/errkind"
)

// parseSignal: Windows has no signals to send to a job's processes.
func parseSignal(name string) (syscall.Signal, error) {
	return 0, errkind.Errorf(errkind.ErrBadRequest, "--signal %q: Windows has no signals to send; stop the job instead", name)
}
