//go:build unix

package api

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bgjob/bgjob/host/internal/safepath"
)

// CheckHome refuses a home that another user could have prepared: one that
// is a symbolic link, is not a directory, belongs to someone else, or that
// others may write to. The host keeps its socket, its pid file and every
// job's records there, so a home someone else controls could plant links
// that make the host (or the CLI starting it) overwrite files, or a fake
// socket that collects what the CLI sends (the caller's environment).
//
// The folders above it count as much as the home itself: whoever may rename
// an entry in one of them can swap the whole home, after it was checked,
// for one of their own whose files are links (the host opens its files by
// path). So each folder from the home's parent up to / must belong to root
// or to this user and not be writable by group or others, as OpenSSH's
// StrictModes requires for ~/.ssh, except that a root-owned folder with the
// sticky bit, such as /tmp, may be writable by all: there no one may rename
// or remove what is not theirs (see package safepath).
func CheckHome(dir string) error {
	if err := CheckHomeParents(dir); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("cannot use the bgjob home: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("the bgjob home %s is a symbolic link; set BGJOB_HOME to the directory itself", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the bgjob home %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("the bgjob home %s belongs to uid %d, not to you (uid %d); bgjob does not use a home another user could have prepared: set BGJOB_HOME to a directory of your own", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("the bgjob home %s may be written by others (mode %v); make it private with 'chmod 700 %s'", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// CheckHomeParents checks the folders above the home dir (see CheckHome),
// which need not exist yet: the host checks them before it creates it.
func CheckHomeParents(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("cannot use the bgjob home: %w", err)
	}
	parent := filepath.Dir(abs)
	err = safepath.Chain(parent, func(string) bool { return true })
	var se *safepath.Error
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("the bgjob home %s is below the folder %s, which belongs to %s and has mode %v, so %s could swap the home for one of their own; bgjob uses a home only if no one but %s can change the folders above it: fix it with '%s', or set BGJOB_HOME to a directory elsewhere",
			abs, se.Path, safepath.Owner(se.UID), se.Mode, se.Who(), safepath.Trusted(se.EUID), se.Fix())
	case errors.Is(err, fs.ErrNotExist):
		return nil // created below, by MkdirAll, in folders checked then
	case err != nil:
		return fmt.Errorf("cannot check the folders above the bgjob home %s: %w", abs, err)
	}
	return nil
}

// openNoFollow opens a file in the home for appending without following a
// symbolic link.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
}

// checkSocketDir refuses a system socket's directory that someone other
// than root (or the caller) owns, or others may write to: a socket there
// could be anyone's.
func checkSocketDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot use the socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("the socket directory %s belongs to uid %d, neither root nor you", dir, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("the socket directory %s may be written by others (mode %v)", dir, fi.Mode().Perm())
	}
	return nil
}
