//go:build unix

package api

import (
	"fmt"
	"os"
	"syscall"
)

// CheckHome refuses a home that another user could have prepared: one that
// is a symbolic link, is not a directory, belongs to someone else, or that
// others may write to. The host keeps its socket, its pid file and every
// job's records there, so a home someone else controls could plant links
// that make the host (or the CLI starting it) overwrite files, or a fake
// socket that collects what the CLI sends (the caller's environment).
func CheckHome(dir string) error {
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
