package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/bgjob/bgjob/host/internal/safepath"
)

// Who may change what the host runs.
//
// A manifest's SHA-256 proves nothing against a user who can write the
// folder it is in: they replace the binary and the hash together, and
// 'runtime verify' agrees. And the system host runs every user's jobs as
// root. So the catalog trusts a binary, a manifest or a folder only if no
// one but root and the host's own user (its effective uid, the catalog's
// reader) could have changed it or any folder above it, up to /, as
// OpenSSH's StrictModes does (package safepath): each must belong to root
// or that user and must not be writable by group or others.
//
// Folders above the catalog root may instead be root-owned and sticky,
// like /tmp: others can add entries there but cannot rename or remove
// ours, and the next folder down is checked in its turn. The root and
// everything in it get no such exception: a folder there that others may
// write to could gain entries.
//
// An entry that fails is refused, never silently left out: List returns it
// with Refused set (runtime list shows it), and Resolve, Verify,
// OpenVerified and VerifyAll return the refusal, which wraps ErrUnsafe and
// names the path and the chmod or chown that fixes it.

// checkTrusted checks path (a file or folder of the catalog) and every
// folder above it, and what any symbolic link on the way points to. The
// error wraps ErrUnsafe, or is Lstat's for a path that is not there.
func (c *Catalog) checkTrusted(path string) error {
	// The catalog's real place is looked up only if a sticky folder is on
	// the way (/tmp, in tests): it costs a walk of its own.
	realRoot := sync.OnceValue(func() string {
		if r, err := filepath.EvalSymlinks(c.root); err == nil {
			return r
		}
		return c.root
	})
	err := safepath.Chain(path, func(dir string) bool {
		return !safepath.Within(dir, c.root) && !safepath.Within(dir, realRoot())
	})
	return c.unsafe(err)
}

// checkBelow checks folder dir of the catalog, below one whose check gave
// parentErr: a folder others could change refuses every entry below it,
// so dir's own check is not needed then. ok is false when dir is gone (or
// cannot be checked for another reason than being unsafe): skip it.
func (c *Catalog) checkBelow(dir string, parentErr error) (err error, ok bool) {
	if parentErr != nil {
		return parentErr, true
	}
	err = c.checkOne(dir)
	return err, err == nil || errors.Is(err, ErrUnsafe)
}

// checkOne checks one file or folder of the catalog whose parent was
// checked already: only a symbolic link needs its whole chain checked
// (its target may be anywhere).
func (c *Catalog) checkOne(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return c.checkTrusted(path)
	}
	return c.unsafe(safepath.Check(path, fi, false))
}

// unsafe words a safepath.Error as the refusal of what the path is to the
// catalog; other errors pass unchanged.
func (c *Catalog) unsafe(err error) error {
	var se *safepath.Error
	if !errors.As(err, &se) {
		return err
	}
	what := "the folder"
	switch {
	case se.Path == c.root:
		what = "the runtime catalog"
	case se.Mode.IsDir() && safepath.Within(se.Path, c.root):
		what = "the runtime catalog folder"
	case filepath.Base(se.Path) == manifestFile:
		what = "the runtime manifest"
	case !se.Mode.IsDir():
		what = "the runtime binary"
	}
	return fmt.Errorf("%w: %s %s; bgjob runs only runtimes that no one but %s can change: fix it with '%s'",
		ErrUnsafe, what, se, safepath.Trusted(se.EUID), se.Fix())
}

// refusedEntry is the entry in dir as its folders name it, refused for
// err: its manifest is not trusted, so nothing of it is read.
func refusedEntry(dir, name, version, platform string, err error) *Entry {
	e := &Entry{Dir: dir}
	e.Name, e.Version = name, version
	e.OS, e.Arch, _ = strings.Cut(platform, "_")
	e.SemVer, _ = semver.NewVersion(version)
	if e.SemVer == nil {
		e.SemVer = semver.New(0, 0, 0, "", "")
	}
	e.refuse(err)
	return e
}

func (e *Entry) refuse(err error) {
	e.Refused, e.RefusedReason = err, err.Error()
}
