//go:build !linux

package sdk

import (
	"errors"
	"time"
)

// Elsewhere no process can have its descendants' orphans come back to it:
// a job's leftovers are what the runtime itself can reach (its process
// groups), as before.
func becomeSubreaper() error {
	return errors.New("a child subreaper needs Linux")
}

const subreaperSupported = false

func reapStrays() {}

func endStrays(time.Duration) (int, bool) { return 0, true }
