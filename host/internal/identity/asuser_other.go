//go:build !linux

package identity

import (
	"errors"

	"github.com/bgjob/bgjob/host/store"
)

// AsUser runs fn as the host's own user. Only a system host, which serves
// on Linux alone, runs a job as another user (id not nil); elsewhere that
// is refused rather than done with the host's own access.
func AsUser(id *store.Identity, fn func() error) error {
	if id != nil {
		return errors.New("reading files as another user is supported on Linux only")
	}
	return fn()
}
