//go:build unix

package identity

import (
	"errors"
	"os/exec"
	"syscall"

	"github.com/bgjob/bgjob/host/store"
	"golang.org/x/sys/unix"
)

// enterSelf says why this process's user cannot enter dir (the job runs
// as the host's own user): access(2) with X_OK; nil if it can.
func enterSelf(dir string) error {
	return unix.Access(dir, unix.X_OK)
}

// enterAs reports whether user id can enter dir: a shell, run as that user,
// changes into it (permissions, ACLs and all, as the job will meet them).
func enterAs(id *store.Identity, dir string) (bool, error) {
	cmd := exec.Command("/bin/sh", "-c", `cd -- "$1"`, "sh", dir)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return false, nil
	}
	return err == nil, err
}
