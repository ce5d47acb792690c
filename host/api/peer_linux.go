package api

import (
	"bytes"
	"net"
	"os"
	"strconv"
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

// peerAlive reports whether the process that listens on c's socket is still
// running. A connection can succeed to a host that was just killed: a child
// it was forking when it died holds the listening socket until its exec,
// then drops the connection.
func peerAlive(c *net.UnixConn) bool {
	_, pid, err := PeerCred(c)
	if err != nil || pid <= 0 {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}
