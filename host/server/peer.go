package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/bgjob/bgjob/host"
)

// checkPeer says who is calling, as the kernel says: a user's host takes
// only its own user (the socket directory's mode is the first wall, this is
// the second); a system host takes anyone it can identify, and each call is
// that user's. A peer that cannot be identified is refused. Outside Linux,
// where there is no peer-credential call here, a user's host has the mode
// alone, and a system host does not serve.
func (s *server) checkPeer(c *net.UnixConn) (host.Caller, error) {
	cred, err := s.peer(c)
	if err != nil {
		if runtime.GOOS != "linux" && !s.system {
			return host.LookupCaller(uint32(os.Getuid()), uint32(os.Getgid())), nil
		}
		return host.Caller{}, fmt.Errorf("cannot tell who is calling, so the call is refused: %w", err)
	}
	if !s.system && cred.UID != os.Getuid() {
		return host.Caller{}, fmt.Errorf("uid %d may not use the bgjob host of uid %d", cred.UID, os.Getuid())
	}
	return host.LookupCaller(uint32(cred.UID), uint32(cred.GID)), nil
}

// systemSocketDir makes the system socket's directory, which every user must
// reach and none but root may write.
func systemSocketDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the system socket's directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return errors.New("the system socket's directory " + dir + " must be a directory only root may write to")
	}
	return os.Chmod(dir, 0o755)
}
