//go:build unix

package server

import (
	"os"
	"syscall"
)

// oobSpace holds the control message of a request that brings the
// caller's stdout and stderr.
var oobSpace = syscall.CmsgSpace(2 * 4)

// receiveFiles returns the caller's stdout and stderr passed in a control
// message, or nil.
func receiveFiles(oob []byte) []*os.File {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			// Named as the caller sees them, for the errors it is told
			// ("write standard output: no space left on device").
			name := "standard error"
			if len(files) == 0 {
				name = "standard output"
			}
			files = append(files, os.NewFile(uintptr(fd), name))
		}
	}
	if len(files) != 2 {
		for _, f := range files {
			f.Close()
		}
		return nil
	}
	return files
}
