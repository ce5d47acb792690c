//go:build unix

package launch

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk/process"
	"golang.org/x/sys/unix"
)

// setProcAttr makes the process lead a session of its own and, for
// another user, gives it that user's credentials from its first
// instruction. The session holds everything the job starts, whatever
// process groups it makes, so a runtime that dies leaves nothing the host
// cannot find (endSession); and a terminal's Ctrl-C aimed at the host does
// not reach it.
func setProcAttr(cmd *exec.Cmd, id Identity) {
	attr := &syscall.SysProcAttr{Setsid: true}
	if !id.IsHost() {
		attr.Credential = &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}
	}
	cmd.SysProcAttr = attr
}

// makeSockDir creates a socket directory only the process's user can use.
func makeSockDir(dir string, id Identity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !id.IsHost() {
		return os.Chown(dir, int(id.UID), int(id.GID))
	}
	return nil
}

func alive(pid int) bool { return process.Alive(pid) }

// endSession kills what is left of the session runtime pid led, once the
// runtime itself is gone.
func endSession(pid int) int { return process.KillSession(pid) }

// killPid kills the runtime the host recorded as pid, started at start
// (0: not known, as for a child not yet reaped, whose pid no other process
// can have): a reattached runtime is not the host's child, and once it has
// exited its pid may be another process's, another user's even, which a
// root host must not kill (killStray checks).
func killPid(pid int, start uint64) {
	if start != 0 {
		killStray(pid, start)
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// ours reports whether pid is still the process that began at start (0:
// not known; taken as ours).
func ours(pid int, start uint64) bool {
	if start == 0 {
		return true
	}
	st, ok := process.StartTime(pid)
	return ok && st == start
}

// ownBy gives f to the process's user.
func ownBy(f *os.File, id Identity) error {
	if id.IsHost() {
		return nil
	}
	return f.Chown(int(id.UID), int(id.GID))
}

// pinsSockets: a runtime's socket is linked into the host's own directory
// before it is checked (see procRunner).
const pinsSockets = true

// pinSocket links the socket at addr (not following a link there) to pin,
// in a directory only the host may enter, and refuses anything that is not
// a socket.
func pinSocket(addr, pin string) error {
	_ = os.Remove(pin)
	if err := unix.Linkat(unix.AT_FDCWD, addr, unix.AT_FDCWD, pin, 0); err != nil {
		return fmt.Errorf("cannot take hold of the runtime's socket %s: %w", addr, err)
	}
	if fi, err := os.Lstat(pin); err != nil || fi.Mode().Type() != os.ModeSocket {
		os.Remove(pin)
		return fmt.Errorf("%w: %s is not a socket", protocol.ErrNotPeer, addr)
	}
	return nil
}

// oNoFollow opens a path's last element only if it is not a symbolic link.
const oNoFollow = syscall.O_NOFOLLOW

// renameLog renames a runtime's log file: rename(2) alone. os.Rename looks
// at the new name first (to refuse a folder there, which rename(2) refuses
// too), a path walk more on every job a reused process takes (its log
// becomes the job's, then its own again).
func renameLog(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
