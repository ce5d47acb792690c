package server

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/bgjob/bgjob/host/api"
)

// checkPeer refuses a connection from any user but the host's own: the
// socket directory's mode is the first wall, this is the second. Outside
// Linux, where there is no peer-credential call here, the mode is the only
// wall.
func checkPeer(c *net.UnixConn) error {
	if runtime.GOOS != "linux" {
		return nil
	}
	uid, _, err := api.PeerCred(c)
	if err != nil {
		return fmt.Errorf("cannot read the caller's credentials: %w", err)
	}
	if uid != os.Getuid() {
		return fmt.Errorf("uid %d may not use the bgjob host of uid %d", uid, os.Getuid())
	}
	return nil
}
