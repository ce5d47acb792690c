//go:build unix && !linux

package api

import "errors"

// fdDir lists this process's open descriptors.
const fdDir = "/dev/fd"

// closeRangeCloexec: not here; CloseOnExec walks fdDir.
func closeRangeCloexec() error { return errors.ErrUnsupported }
