package api

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// PeerCred returns the uid and pid of the process at the other end of c:
// for a server, the caller; for a client, the process that created the
// listening socket (SO_PEERCRED).
func PeerCred(c *net.UnixConn) (uid, pid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if cerr != nil {
		return 0, 0, cerr
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// checkListener refuses a socket whose listener (the process that created
// it) is not the caller's own user.
func checkListener(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	uid, pid, err := PeerCred(uc)
	if err != nil {
		return fmt.Errorf("cannot tell who listens on it: %w", err)
	}
	if uid != os.Geteuid() {
		return fmt.Errorf("it belongs to process %d of uid %d, not to a host of yours (uid %d)", pid, uid, os.Geteuid())
	}
	return nil
}
