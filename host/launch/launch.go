// Package launch starts runtime plugin processes for jobs, and finds them
// again after the host was away.
//
// The host asks a Launcher for a Process that runs a Spec; how the process
// comes about (a fresh go-plugin child, one started ahead of need, later a
// process handed back by an earlier job or one on another machine) is the
// launcher's business. A Process is given back with Release when its job is
// over; today that ends it, and a launcher that reuses processes can keep
// it instead without the host changing.
package launch

import (
	"context"
	"os"
	"slices"

	"github.com/bgjob/bgjob/host/internal/protocol"
)

// Launcher starts and finds runtime processes.
type Launcher interface {
	// Launch returns a process running spec's binary, ready for a job.
	Launch(ctx context.Context, spec *Spec) (Process, error)
	// Reattach connects to a process an earlier host launched; logFile
	// receives the connection's log.
	Reattach(a *Attach, logFile string) (Process, error)
	// Close ends what the launcher keeps for later (spare processes);
	// processes running jobs go on.
	Close() error
}

// Process is one runtime process.
type Process interface {
	// Conn is the process's protocol connection.
	Conn() protocol.Conn
	// Attach says how to find the process again; nil if it cannot be.
	Attach() *Attach
	// Pid is the process id, for messages.
	Pid() int
	// Exited reports whether the process has ended.
	Exited() bool
	// Kill ends the process now; the relay of its job then fails.
	Kill()
	// Release ends the process once its job is over and cleans up after
	// it.
	Release()
}

// ExitStatuser is a Process that can tell how it ended once it has
// (Exited): "exit status 2", or "signal: killed" and what sends that. A
// process the host took back from an earlier host is not its child, and
// its status is not known ("").
type ExitStatuser interface {
	ExitStatus() string
}

// Recycler is a Process that may run another job: Recycle offers it back
// after a job that ended cleanly (it completed, or failed by its own exit
// status), and the launcher keeps it for the next job of the same Spec if
// the runtime is reusable and the process has room for more jobs. It
// reports whether it was kept; one that was not is still the caller's to
// Release. Keeping is quick (a question to the runtime and a rename) and
// ending is not (a graceful close), so a caller can offer the process back
// before it lets the next job start, and end one that was refused in the
// background. A job that was stopped, or whose runtime crashed or was
// lost, is Released, never recycled.
type Recycler interface {
	Recycle() bool
}

// Sharer is a Launcher that runs several jobs at once in one process of a
// Spec (thread jobs): LaunchShared returns a handle to that process,
// starting it if none runs. Each job's handle is Released on its own; the
// process ends once none is held and it has been idle a while. Killing a
// handle kills the process, and so fails every job it runs.
type Sharer interface {
	LaunchShared(ctx context.Context, spec *Spec) (Process, error)
}

// Spec is what a runtime process must be. Every field that makes two
// processes different is part of it, so a launcher that keeps processes for
// later can key them by it (see key).
type Spec struct {
	// Binary is the runtime's absolute path and SHA256 what it must hash
	// to; Protocol, OS and Arch are what the catalog recorded for it, and
	// Name and Version name it in messages.
	Binary        string
	SHA256        string
	Protocol      int
	OS, Arch      string
	Name, Version string
	// Identity is the user the process runs as.
	Identity Identity
	// Workdir is where the process starts.
	Workdir string
	// LogFile is the job's runtime log: the process's log while it runs
	// the job. (The plugin's sockets are in a directory of the process's
	// own, which the launcher makes: a process may outlive its job.)
	LogFile string
	// Env is added to the process's environment, which is built from
	// nothing (the host's own is never passed on).
	Env []string
}

// Identity is a user to run as. The zero value is the host's own user.
type Identity struct {
	UID, GID uint32
	Groups   []uint32
}

// IsHost reports whether id is the host's own user (the zero value).
func (id Identity) IsHost() bool {
	return id.UID == 0 && id.GID == 0 && len(id.Groups) == 0
}

// uidOf is the uid a process of id runs as.
func uidOf(id Identity) uint32 {
	if id.IsHost() {
		return uint32(os.Geteuid())
	}
	return id.UID
}

// key is what makes two processes interchangeable: the same binary and
// content, protocol, platform and user. Directories, logs and environment
// are per job, not per process.
type key struct {
	binary, sha256, os, arch string
	protocol                 int
	uid, gid                 uint32
	groups                   string
}

func keyOf(s *Spec) key {
	g := slices.Clone(s.Identity.Groups)
	slices.Sort(g)
	var groups []byte
	for _, x := range g {
		groups = append(groups, byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
	}
	return key{binary: s.Binary, sha256: s.SHA256, os: s.OS, arch: s.Arch, protocol: s.Protocol,
		uid: s.Identity.UID, gid: s.Identity.GID, groups: string(groups)}
}

// Attach is go-plugin's ReattachConfig in a form that survives JSON, plus
// what go-plugin's does not carry: the negotiated protocol, and the binary
// (so a process that cannot be reattached is only killed if it still runs
// that binary).
type Attach struct {
	Network  string `json:"network"`
	Addr     string `json:"addr"`
	Pid      int    `json:"pid"`
	Protocol int    `json:"protocol"`
	SockDir  string `json:"sockDir"`
	Binary   string `json:"binary,omitempty"`
	// UID is the user the process runs as, and Start its start time
	// (process.StartTime): with Pid they name the process the host
	// started, which is the only process it reattaches to or kills.
	UID   uint32 `json:"uid"`
	Start uint64 `json:"start,omitempty"`
	// Shared: the process runs several jobs at once (see Sharer); a host
	// that reattaches shares it among them again.
	Shared bool `json:"shared,omitempty"`
}
