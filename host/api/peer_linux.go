package api

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"syscall"
)

// peerAlive reports whether the process that listens on c's socket is still
// running. A connection can succeed to a host that was just killed: a child
// it was forking when it died holds the listening socket until its exec,
// then drops the connection. SO_PEERCRED names the listener's creator.
func peerAlive(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	pid := 0
	_ = raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	if pid <= 0 {
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
