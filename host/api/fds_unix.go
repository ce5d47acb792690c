//go:build unix

package api

import (
	"net"
	"os"
	"syscall"
)

// sendRequest writes the request frame, attaching stdout and stderr when
// both are files: the host then writes the call's output to them itself,
// and the bytes skip a trip through this process.
func sendRequest(c net.Conn, frame []byte, stdout, stderr any) error {
	uc, ok := c.(*net.UnixConn)
	o, ok1 := stdout.(*os.File)
	e, ok2 := stderr.(*os.File)
	if !ok || !ok1 || !ok2 {
		_, err := c.Write(frame)
		return err
	}
	rights := syscall.UnixRights(int(o.Fd()), int(e.Fd()))
	// One sendmsg carries the descriptors and as much of the frame as the
	// socket takes; a large request (a big input, many arguments) goes on
	// in plain writes.
	n, _, err := uc.WriteMsgUnix(frame, rights, nil)
	if err != nil || n == len(frame) {
		return err
	}
	_, err = c.Write(frame[n:])
	return err
}
