// Package safepath checks that files and the folders above them can be
// changed by no one but root and the process's own user, as OpenSSH's
// StrictModes does for authorized_keys.
//
// The system host runs as root for every user: a file it trusts (a runtime
// binary, a manifest's hash, a home it writes into) must not be one that
// another user could replace, and a user who can write a folder, or any
// folder above it, can replace what is inside. So each file and folder on
// the way from / must belong to root or to the process's effective user
// and must not be writable by group or others.
//
// The one exception, allowed only where a caller says so (folders above
// the catalog root or the home, never those themselves or what is inside):
// a root-owned directory with the sticky bit, such as /tmp, may be writable
// by all. There others may add entries but may not rename or remove ours,
// and the next folder down is checked in its turn, so nothing they can do
// changes what lies below it. OpenSSH refuses even that; we accept it
// because the sticky bit gives exactly the guarantee the rule is after, and
// because homes and catalogs under /tmp are what tests and CI use.
package safepath

import (
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"strings"
)

// Error is a file or folder that someone other than root and the process's
// user could change.
type Error struct {
	Path string
	UID  int         // its owner
	Mode fs.FileMode // its mode
	EUID int         // the process's effective uid
}

// Error says what is wrong with the path, for a sentence that names what
// the path is: "belongs to ... and has mode ...".
func (e *Error) Error() string {
	return fmt.Sprintf("%s belongs to %s and has mode %v, so %s could change it", e.Path, Owner(e.UID), e.Mode, e.Who())
}

// Who names who besides root and the process's user could change the
// path.
func (e *Error) Who() string {
	if e.UID != 0 && e.UID != e.EUID {
		return Owner(e.UID)
	}
	if e.Mode.Perm()&0o002 != 0 {
		return "any user"
	}
	return "its group's members"
}

// Fix is the command that makes the path safe.
func (e *Error) Fix() string {
	var fix []string
	if e.UID != 0 && e.UID != e.EUID {
		fix = append(fix, fmt.Sprintf("chown %s %s", name(e.EUID), quote(e.Path)))
	}
	if e.Mode.Perm()&0o022 != 0 {
		fix = append(fix, "chmod go-w "+quote(e.Path))
	}
	return strings.Join(fix, " && ")
}

// Owner names a uid for messages: "alice (uid 1001)", or the uid alone.
func Owner(uid int) string {
	if n := name(uid); n != strconv.Itoa(uid) {
		return fmt.Sprintf("%s (uid %d)", n, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// Trusted names who may change a safe path: "root", or "root and alice
// (uid 1001)" for a process of alice's.
func Trusted(euid int) string {
	if euid == 0 {
		return "root"
	}
	return "root and " + Owner(euid)
}

// name is uid's user name, or the uid as a number (for chown either way).
func name(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username
	}
	return id
}

func quote(p string) string {
	if strings.ContainsAny(p, " \t\n'\"\\$`;&|<>()*?[]#~") {
		return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
	}
	return p
}

// Within reports whether path is root or inside it (both clean and
// absolute).
func Within(path, root string) bool {
	if root == "" {
		return false
	}
	return path == root || strings.HasPrefix(path, strings.TrimSuffix(root, "/")+"/")
}
