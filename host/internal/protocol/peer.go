package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"

	"github.com/bgjob/bgjob/host/api"
)

// Peer is the one process a client may talk to: the runtime process the
// launcher started (or recorded, for a reattach), as the user it asked for.
//
// A runtime runs as the job's user, who controls it: it can print any
// address in its go-plugin handshake, or send any bulk address. A host that
// connected wherever it was told would talk, with its own privileges, to
// another user's runtime or root's (and hand it that user's jobs). So every
// connection to a runtime is checked against what the host itself knows:
// the address must be in the directory made for the process, and the
// process listening on it must be the process the host started, running as
// the uid it asked for (the kernel's SO_PEERCRED says so, not the runtime).
type Peer struct {
	// Pid is the runtime process; UID the user it runs as.
	Pid int
	UID uint32
	// Dir is the socket directory made for the process: its sockets must be
	// entries of it.
	Dir string
}

// ErrNotPeer is what a connection to anything but the expected process
// wraps.
var ErrNotPeer = errors.New("the runtime's address is not its own")

// InDir refuses an address that is not a unix socket directly inside the
// peer's directory. Outside Linux (where go-plugin may listen on TCP) only
// the network is checked.
func (p *Peer) InDir(network, addr string) error {
	if runtime.GOOS != "linux" {
		return nil
	}
	if network != "unix" {
		return fmt.Errorf("%w: the runtime process %d offered a %s address (%s), and only a unix socket in %s is accepted", ErrNotPeer, p.Pid, network, addr, p.Dir)
	}
	if !filepath.IsAbs(addr) || filepath.Dir(filepath.Clean(addr)) != filepath.Clean(p.Dir) {
		return fmt.Errorf("%w: the runtime process %d offered %s, which is not in its socket directory %s", ErrNotPeer, p.Pid, addr, p.Dir)
	}
	return nil
}

// Check refuses a connection whose other end is not the peer: a process
// other than Pid, or one running as another uid. Outside Linux there is no
// peer-credential call, and the directory check stands alone.
func (p *Peer) Check(c net.Conn) error {
	if runtime.GOOS != "linux" {
		return nil
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%w: a connection to the runtime process %d is not a unix socket", ErrNotPeer, p.Pid)
	}
	cred, err := api.PeerCred(uc)
	if err != nil {
		return fmt.Errorf("cannot tell which process listens on the runtime's socket: %w", err)
	}
	if cred.PID != p.Pid || uint32(cred.UID) != p.UID {
		return fmt.Errorf("%w: its socket is served by process %d of uid %d, not by the runtime process %d of uid %d the host started", ErrNotPeer, cred.PID, cred.UID, p.Pid, p.UID)
	}
	return nil
}

// Dial connects to addr, a unix socket in the peer's directory, and checks
// who serves it.
func (p *Peer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := p.InDir("unix", addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, err
	}
	if err := p.Check(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
