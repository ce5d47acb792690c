package identity

import (
	"fmt"
	"runtime"

	"github.com/bgjob/bgjob/host/store"
	"golang.org/x/sys/unix"
)

// AsUser runs fn with the file access of user id (nil: the host's own):
// what fn opens, stats or lists is checked against that user's uid, gid and
// groups, as it would be for the job, not against root's. A system host
// reads a job's script file (--file, --literal-path, --init-file) at a path
// the user names; read as root, it would hand the user any file on the
// machine (/etc/shadow as the job's script, shown back by restart --edit).
//
// fn runs on an OS thread of its own whose filesystem ids (setfsuid,
// setfsgid) and supplementary groups are the user's: those are per thread
// in the kernel, and changing the fsuid from 0 drops the capabilities that
// override file permissions. The thread is never unlocked, so it ends with
// fn and never runs anything else with those ids; Go makes no new thread
// from a locked one.
func AsUser(id *store.Identity, fn func() error) error {
	if id == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		errc <- asUserLocked(id, fn)
	}()
	return <-errc
}

func asUserLocked(id *store.Identity, fn func() error) error {
	groups := make([]int, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = int(g)
	}
	// x/sys/unix's Setgroups is the raw system call: this thread alone.
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("cannot take the groups of uid %d to read as them: %w", id.UID, err)
	}
	// setfsgid and setfsuid say nothing when they fail: the ids are read
	// back (-1 changes nothing) and compared.
	unix.SetfsgidRetGid(int(id.GID))
	unix.SetfsuidRetUid(int(id.UID))
	gid, _ := unix.SetfsgidRetGid(-1)
	uid, _ := unix.SetfsuidRetUid(-1)
	if uid != int(id.UID) || gid != int(id.GID) {
		return fmt.Errorf("cannot take the file access of uid %d gid %d (have %d, %d)", id.UID, id.GID, uid, gid)
	}
	return fn()
}
