//go:build unix

package host

import (
	"errors"
	"syscall"
)

func isExecFormat(err error) bool { return errors.Is(err, syscall.ENOEXEC) }
