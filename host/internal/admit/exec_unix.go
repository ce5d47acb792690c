//go:build unix

package admit

import (
	"errors"
	"syscall"
)

func isExecFormat(err error) bool { return errors.Is(err, syscall.ENOEXEC) }
