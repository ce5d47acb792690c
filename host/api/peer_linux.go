package api

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// Cred is who is at the other end of a unix socket, as the kernel says.
type Cred struct {
	UID, GID, PID int
}

// PeerCred returns who is at the other end of c: for a server, the caller;
// for a client, the process that created the listening socket
// (SO_PEERCRED).
func PeerCred(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return Cred{}, err
	}
	if cerr != nil {
		return Cred{}, cerr
	}
	return Cred{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}, nil
}

// checkListener refuses a socket whose listener (the process that created
// it) is not the caller's own user, or, for the system host, root.
func checkListener(c net.Conn, system bool) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	cred, err := PeerCred(uc)
	if err != nil {
		return fmt.Errorf("cannot tell who listens on it: %w", err)
	}
	if cred.UID != os.Geteuid() && !(system && cred.UID == 0) {
		return fmt.Errorf("it belongs to process %d of uid %d, not to a host of yours (uid %d)", cred.PID, cred.UID, os.Geteuid())
	}
	return nil
}
