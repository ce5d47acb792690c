//go:build !unix

package events

import (
	"os/exec"

	"github.com/bgjob/bgjob/host/store"
)

// shell runs a hook's command.
var shell = []string{"cmd", "/C"}

// setUser does nothing: a host that is not Unix runs every job as its own
// user.
func setUser(*exec.Cmd, *store.Identity) {}
