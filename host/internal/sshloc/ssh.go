package sshloc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Everything goes through the system's ssh client, as the user runs it:
// their keys, agent, ~/.ssh/config and known_hosts; bgjob has no SSH code
// and no keys of its own. Its options make it fit to run unattended:
// BatchMode (never a prompt, which would hang the host: a key that needs
// a passphrase the agent does not have fails instead), StrictHostKeyChecking
// (a computer whose key is not known is refused, never trusted on first
// sight) and keepalives (a connection that dies unannounced is found
// within about half a minute).
var sshOptions = []string{
	"-o", "BatchMode=yes",
	"-o", "StrictHostKeyChecking=yes",
	"-o", "ServerAliveInterval=10",
	"-o", "ServerAliveCountMax=3",
	"-o", "ConnectTimeout=20",
	"-T", // no terminal: the streams are bytes
}

// dest is a computer as ssh is given it.
type dest struct {
	// host is what ssh connects to (a name, an address or an alias,
	// perhaps with user@); port is set when the computer said one.
	host, port string
}

// parseComputer reads a computer as --computer-name gives it: a name or
// address, an ssh_config alias, user@host, host:port, user@host:port or
// [v6address]:port.
func parseComputer(c string) (dest, error) {
	if c == "" || strings.HasPrefix(c, "-") || strings.ContainsAny(c, " \t\n'\"\\;&|<>$`") {
		return dest{}, fmt.Errorf("%q is not a computer name (a host name, an ssh_config alias, or user@host:port)", c)
	}
	user, hostport := "", c
	if i := strings.LastIndex(c, "@"); i >= 0 {
		user, hostport = c[:i+1], c[i+1:]
		if hostport == "" || i == 0 {
			return dest{}, fmt.Errorf("%q is not a computer name: give user@host", c)
		}
	}
	if strings.HasPrefix(hostport, "[") {
		h, p, err := net.SplitHostPort(hostport)
		if err != nil {
			return dest{}, fmt.Errorf("%q: %v", c, err)
		}
		return dest{host: user + h, port: p}, checkPort(c, p)
	}
	if strings.Count(hostport, ":") == 1 {
		h, p, _ := strings.Cut(hostport, ":")
		if h == "" {
			return dest{}, fmt.Errorf("%q has no host name", c)
		}
		return dest{host: user + h, port: p}, checkPort(c, p)
	}
	return dest{host: c}, nil // a name, an alias, or a bare IPv6 address
}

func checkPort(c, p string) error {
	if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%q: the port %q is not a number from 1 to 65535", c, p)
	}
	return nil
}

// args are ssh's arguments to run script (sh syntax, one line) there,
// with further options opts.
func (d dest) args(opts []string, script string) []string {
	a := append(append([]string(nil), sshOptions...), opts...)
	if d.port != "" {
		a = append(a, "-p", d.port)
	}
	// The login shell there runs the command; sh runs the script, so a
	// user whose shell is csh or fish is served as well.
	return append(a, "--", d.host, "sh -c "+quote(script))
}

// quote quotes s for a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sshError is ssh failing: the computer, what bgjob was doing, and ssh's
// own words (or the remote command's).
type sshError struct {
	computer, doing string
	msg             string
	// conn: ssh itself failed (exit status 255): the computer could not be
	// reached or refused the connection, rather than the command failing.
	conn bool
}

func (e *sshError) Error() string {
	return fmt.Sprintf("%s on %s: %s%s", e.doing, e.computer, e.msg, hint(e.msg))
}

// hint says what to do about the ssh messages that have a known cause.
func hint(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "host key verification failed") || strings.Contains(m, "no ") && strings.Contains(m, "host key is known"):
		return " (bgjob never accepts a host key it does not know: check the computer's key and add it to ~/.ssh/known_hosts, e.g. ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts after comparing its fingerprint, or connect once with ssh and answer yes)"
	case strings.Contains(m, "remote host identification has changed"):
		return " (the computer's host key differs from the one in ~/.ssh/known_hosts: find out why before removing the old one with ssh-keygen -R)"
	case strings.Contains(m, "permission denied"):
		return " (bgjob runs ssh without prompts, BatchMode: it needs a key ssh can use unattended, in ssh-agent or without a passphrase)"
	}
	return ""
}

// sshCmd is one ssh command on a computer.
type sshCmd struct {
	l        *Location
	computer string
	d        dest
}

// run runs script there with stdin and returns its stdout; timeout bounds
// it (0: ctx alone).
func (c *sshCmd) run(ctx context.Context, doing, script string, stdin io.Reader, timeout time.Duration) (string, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, c.l.cfg.SSH, c.d.args(c.l.muxOptions(c.d), script)...)
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		return out.String(), c.failed(ctx, doing, err, errOut.String(), timeout)
	}
	return out.String(), nil
}

// failed is the error of an ssh command that ended with err, having
// written stderr.
func (c *sshCmd) failed(ctx context.Context, doing string, err error, stderr string, timeout time.Duration) error {
	e := &sshError{computer: c.computer, doing: doing, msg: strings.TrimSpace(stderr)}
	var ee *exec.ExitError
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot):
		e.msg = fmt.Sprintf("cannot run ssh (%v): the SSH location needs the OpenSSH client (apt-get install openssh-client)", err)
	case ctx.Err() != nil && timeout > 0:
		e.conn = true
		e.msg = fmt.Sprintf("ssh did not finish within %v", timeout)
	case errors.As(err, &ee):
		e.conn = ee.ExitCode() == 255 || ee.ExitCode() < 0
	}
	if e.msg == "" {
		e.msg = err.Error()
	}
	return e
}

// goPlatform maps what `uname -sm` says to Go's GOOS and GOARCH.
func goPlatform(uname string) (goos, goarch string, ok bool) {
	f := strings.Fields(uname)
	if len(f) != 2 {
		return "", "", false
	}
	switch strings.ToLower(f[0]) {
	case "linux":
		goos = "linux"
	case "darwin":
		goos = "darwin"
	case "freebsd":
		goos = "freebsd"
	case "openbsd":
		goos = "openbsd"
	case "netbsd":
		goos = "netbsd"
	default:
		return "", "", false
	}
	switch f[1] {
	case "x86_64", "amd64":
		goarch = "amd64"
	case "aarch64", "arm64", "aarch64_be":
		goarch = "arm64"
	case "i386", "i486", "i586", "i686", "i86pc":
		goarch = "386"
	case "armv6l", "armv7l", "armv7", "arm":
		goarch = "arm"
	case "riscv64":
		goarch = "riscv64"
	case "ppc64le":
		goarch = "ppc64le"
	case "s390x":
		goarch = "s390x"
	default:
		return "", "", false
	}
	return goos, goarch, true
}

// muxOptions share one connection to a computer among the ssh commands to
// it (OpenSSH's ControlMaster; kept a minute after the last): a child job
// makes several, and a job's children to one computer as many again, each
// of which would otherwise pay for a handshake. None where the socket's
// path would be too long for a unix socket (ssh adds a suffix while it
// binds it).
//
// A connection is shared by one computer name as given, not by every name
// that leads to the same address: ssh's %C hashes the host, port and user
// it resolved, so an alias with a host key not in known_hosts, or a
// HostKeyAlias, IdentityFile or UserKnownHostsFile of its own, would ride
// on another alias's connection, checked for that one. The socket's name
// begins with a hash of the name given.
func (l *Location) muxOptions(d dest) []string {
	dir := filepath.Join(l.cfg.Dir, "mux")
	if l.cfg.NoMux || len(dir)+1+16+1+40+18 > 100 {
		return nil
	}
	l.muxOnce.Do(func() { l.muxErr = os.MkdirAll(dir, 0o700) })
	if l.muxErr != nil {
		return nil
	}
	sum := sha256.Sum256([]byte(d.host + "\x00" + d.port))
	name := hex.EncodeToString(sum[:8]) + "-%C"
	return []string{"-o", "ControlMaster=auto", "-o", "ControlPath=" + filepath.Join(dir, name), "-o", "ControlPersist=60"}
}
