package host

import (
	"errors"

	"github.com/bgjob/bgjob/host/store"
)

// enterAs: on Windows a job runs as another user through a logon token
// (see launch), and the directory's access is checked at launch.
func enterAs(*store.Identity, string) (bool, error) {
	return false, errors.New("jobs as another user are started through logon tokens on Windows")
}
