package identity

import (
	"errors"

	"github.com/bgjob/bgjob/host/store"
)

// enterAs: a job never runs as another user on Windows (RunAs refuses
// --credential there), so this is never asked.
func enterAs(*store.Identity, string) (bool, error) {
	return false, errors.New("running a job as another user is not supported on Windows")
}

// enterSelf: Windows has no search permission to check here.
func enterSelf(string) error { return nil }
