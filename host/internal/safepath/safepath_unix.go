//go:build unix

package safepath

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// NoFollow is the open flag that refuses a final symbolic link
// (O_NOFOLLOW), for files the host keeps in its home: a link planted there
// would make it write, or cut, whatever the link points to.
const NoFollow = syscall.O_NOFOLLOW

// Check returns an *Error if the file fi describes (at path) belongs to
// someone other than root and the process's effective user, or if group or
// others may write it; sticky allows a root-owned sticky directory that
// anyone may write (see the package comment). fi must be the file's own
// (Lstat or Fstat), not a symbolic link's target's through the link.
func Check(path string, fi fs.FileInfo, sticky bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	euid := effectiveUID()
	uid := int(st.Uid)
	badOwner := uid != 0 && uid != euid
	writable := fi.Mode().Perm()&0o022 != 0
	if writable && sticky && uid == 0 && fi.IsDir() && fi.Mode()&fs.ModeSticky != 0 {
		writable = false
	}
	if !badOwner && !writable {
		return nil
	}
	return &Error{Path: path, UID: uid, Mode: fi.Mode(), EUID: euid}
}

// effectiveUID is the process's effective uid, asked once: Check runs for
// every folder of every path walked (a few dozen a job's start), and no
// process that uses it changes its own.
var effectiveUID = sync.OnceValue(os.Geteuid)

// stickyDir reports whether the sticky exception could apply to fi: a
// folder others may write, with the sticky bit. Only then is the caller's
// sticky asked (it may cost a walk of its own).
func stickyDir(fi fs.FileInfo) bool {
	return fi.IsDir() && fi.Mode()&fs.ModeSticky != 0 && fi.Mode().Perm()&0o022 != 0
}

// Chain checks path and every folder above it up to /, each with Check;
// where a symbolic link is on the way (the link's own mode means nothing,
// the folder holding it is checked), the link's target and the folders
// above that are checked too, so the chain is safe whichever way the
// kernel walks it. A folder on the way, path included, gets the sticky
// exception when sticky(folder) says so (nil: never; a file never gets
// it). The error is an *Error, or Lstat's or EvalSymlinks' for a path that
// cannot be walked.
func Chain(path string, sticky func(dir string) bool) error {
	path = filepath.Clean(path)
	links := false
	for p := path; ; {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			links = true
		} else if err := Check(p, fi, sticky != nil && stickyDir(fi) && sticky(p)); err != nil {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if !links {
		// Nothing on the way is a link, so the path is where it leads:
		// walking it again to resolve links (as many lstats as above)
		// would find none. One made since could only be made by root or
		// us, whom every folder on the way was just checked to belong to.
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if real == path {
		return nil
	}
	// The target has no links left on its way, so this recursion ends; a
	// link changed meanwhile could only be changed by root or us.
	if real2, err := filepath.EvalSymlinks(real); err != nil || real2 != real {
		if err == nil {
			err = &os.PathError{Op: "resolve", Path: path, Err: syscall.ELOOP}
		}
		return err
	}
	return Chain(real, sticky)
}

// RemoveFile removes the file at path, not a folder there: unlink(2) alone.
// os.Remove, not knowing which it is, tries rmdir when unlink fails, and
// the files a job's start and end remove are mostly not there (a log of an
// earlier attempt, a job that printed nothing), which made it pay for both.
func RemoveFile(path string) error {
	if err := syscall.Unlink(path); err != nil {
		return &os.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}
