package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultHome is where a user's host keeps its socket, job table and
// records: $BGJOB_HOME, else $XDG_STATE_HOME/bgjob, else ~/.local/state/bgjob.
func DefaultHome() (string, error) {
	if h := os.Getenv("BGJOB_HOME"); h != "" {
		return filepath.Abs(h)
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "bgjob"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a home for bgjob: %w; set BGJOB_HOME", err)
	}
	return filepath.Join(home, ".local", "state", "bgjob"), nil
}

// DefaultDefinitions is where stored job definitions live unless
// --definition-path says otherwise: $BGJOB_DEFINITIONS, else
// $XDG_CONFIG_HOME/bgjob/jobs, else ~/.config/bgjob/jobs. They are
// configuration a user writes, so they sit with the user's configuration,
// not the host's state.
func DefaultDefinitions() (string, error) {
	if d := os.Getenv("BGJOB_DEFINITIONS"); d != "" {
		return filepath.Abs(d)
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "bgjob", "jobs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find where definitions live: %w; give --definition-path or set BGJOB_DEFINITIONS", err)
	}
	return filepath.Join(home, ".config", "bgjob", "jobs"), nil
}

// SocketPath is the host's socket inside home.
func SocketPath(home string) string { return filepath.Join(home, "host.sock") }

// Client is one connection to a host.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	acks bool // the host takes FrameAck

	// Marked, if set, is given each FrameMark of a reply, once every
	// frame before it has been written out.
	Marked func(Mark)
}

// Dial connects to the host serving home and waits for its hello.
//
// The hello is how the CLI knows a live host took the connection: a host
// killed while it was starting a runtime leaves its listening socket with
// the child for a moment, and a connection made then is never answered.
// Such a connection ends without a hello, and Dial reports ErrNoHost, so
// that Connect starts a new host rather than send the request into it.
//
// Before anything is read or sent, the home must be the caller's own (see
// CheckHome) and the process listening on the socket must run as the
// caller: a socket someone else planted would otherwise receive the
// request, the caller's environment with it.
func Dial(home string) (*Client, error) {
	if err := CheckHome(home); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w on %s: %w", ErrNoHost, home, err) // a host makes it
		}
		return nil, &Error{Code: ExitUnavailable, Err: err}
	}
	return dial(SocketPath(home), home, false)
}

// The system host's default places: its socket, which any local user may
// reach, and its state.
const (
	SystemSocket = "/run/bgjob/host.sock"
	SystemHome   = "/var/lib/bgjob"
)

// DialSocket connects to the host listening on sock, a system host's: its
// listener must be root (or the caller), and its directory must not be
// writable by others. Nothing else is checked or started.
func DialSocket(sock string) (*Client, error) {
	dir := filepath.Dir(sock)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// No system host has ever run here (its directory is made when
		// it starts): say what to do, as for a socket nobody answers on.
		return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("no bgjob system host runs here: %s does not exist; start one as root with 'bgjob host --system', or 'systemctl start bgjob'", dir)}
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, &Error{Code: ExitUnavailable, Err: err}
	}
	c, err := dial(sock, dir, true)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, err
		}
		return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("no bgjob system host answers on %s (%v); start one as root with 'bgjob host --system', or 'systemctl start bgjob'", sock, err)}
	}
	return c, nil
}

func dial(sock, home string, system bool) (*Client, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	if err := checkListener(c, system); err != nil {
		c.Close()
		return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("refusing the socket %s: %w", sock, err)}
	}
	cl := &Client{conn: c, r: bufio.NewReaderSize(c, 1<<20)}
	if err := cl.hello(home); err != nil {
		c.Close()
		return nil, err
	}
	return cl, nil
}

// ErrNoHost says that no live host answered on the socket.
var ErrNoHost = errors.New("no bgjob host answers")

// helloTimeout bounds the wait for the hello: a host answers at once, and
// one that does not (a host of a version before the hello) must not hang
// the CLI.
const helloTimeout = 10 * time.Second

func (c *Client) hello(home string) error {
	_ = c.conn.SetReadDeadline(time.Now().Add(helloTimeout))
	defer c.conn.SetReadDeadline(time.Time{})
	kind, p, err := ReadFrame(c.r, nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &Error{Code: ExitUnavailable, Err: fmt.Errorf("the bgjob host on %s did not answer within %v; if it is an older version, stop it (kill $(cat %s)) and try again", home, helloTimeout, filepath.Join(home, "host.pid"))}
		}
		return fmt.Errorf("%w on %s (it closed the connection: %v)", ErrNoHost, home, err)
	}
	switch kind {
	case FrameHello:
		var h Hello
		if err := decodeHello(p, &h); err != nil {
			return &Error{Code: ExitUnavailable, Err: fmt.Errorf("bad hello from the host on %s: %w", home, err)}
		}
		if h.Version != WireVersion {
			return &Error{Code: ExitUnavailable, Err: fmt.Errorf("the bgjob host on %s (pid %d) speaks version %d of the CLI protocol and this bgjob speaks %d; stop it (kill %d) so that the next call starts the host that matches", home, h.Pid, h.Version, WireVersion, h.Pid)}
		}
		c.acks = h.Acks
		return nil
	case FrameResult:
		// Refused: the result says why.
		var res Result
		if err := decodeResult(p, &res); err != nil || res.Error == "" {
			return &Error{Code: ExitUnavailable, Err: fmt.Errorf("the bgjob host on %s refused the connection", home)}
		}
		return &Error{Code: res.Code, Err: errors.New(res.Error)}
	}
	return &Error{Code: ExitUnavailable, Err: fmt.Errorf("unexpected frame %q from the host on %s", kind, home)}
}

// Starter starts a host for Connect. It returns a channel that receives the
// host process's exit, so that a host that dies while starting is reported
// at once rather than after Connect's whole wait.
type Starter func() (exited <-chan error, err error)

// Connect dials the host serving home, and if none answers calls start and
// waits up to timeout for the host to come up.
func Connect(home string, timeout time.Duration, start Starter) (*Client, error) {
	c, err := Dial(home)
	if err == nil {
		return c, nil
	}
	var refused *Error
	if start == nil || errors.As(err, &refused) {
		return nil, err
	}
	exited, err := start()
	if err != nil {
		return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("cannot start the bgjob host: %w", err)}
	}
	logPath := filepath.Join(home, "host.log")
	deadline := time.Now().Add(timeout)
	var again time.Time // when to start a host again (see below); zero: not
	for wait := 500 * time.Microsecond; ; wait = min(2*wait, 50*time.Millisecond) {
		c, err = Dial(home)
		if err == nil {
			return c, nil
		}
		if errors.As(err, &refused) {
			return nil, err
		}
		if !again.IsZero() && time.Now().After(again) {
			again = time.Time{}
			if exited, err = start(); err != nil {
				return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("cannot start the bgjob host: %w", err)}
			}
		}
		select {
		case werr := <-exited:
			// Another host may have won the race to start; it answers,
			// or will once it has taken its jobs back.
			if c, derr := Dial(home); derr == nil {
				return c, nil
			}
			var ee interface{ ExitCode() int }
			if errors.As(werr, &ee) && ee.ExitCode() == ExitConflict {
				// Another host holds the home: wait for it. It may be
				// one that is closing (its socket gone, a stalled call
				// holding it up to 5 s), which never answers: a host is
				// started again every conflictRetry, and the first to
				// find the home's lock free (host.lock) answers.
				exited, again = nil, time.Now().Add(conflictRetry)
				break
			}
			return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("the bgjob host exited as it started (%v): %s", werr, logTail(logPath))}
		default:
		}
		if time.Now().After(deadline) {
			return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("the bgjob host did not come up within %v: %w (see %s)", timeout, err, logPath)}
		}
		time.Sleep(wait)
	}
}

// conflictRetry is how long Connect waits for a host that holds the home
// to answer before it starts one again.
const conflictRetry = 500 * time.Millisecond

// logTail is the end of the host's log, on one line, for a message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "see " + path
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " / ") + " (" + path + ")"
}

// PrepareHome creates home if needed, private to the caller, and checks it
// (CheckHome); it returns the host's log there, opened for appending.
func PrepareHome(home string) (*os.File, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	if err := CheckHome(home); err != nil {
		return nil, err
	}
	return openNoFollow(filepath.Join(home, "host.log"))
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends req and copies the reply's stdout and stderr frames to stdout
// and stderr until the result arrives; it returns the result's exit code and
// an *Error when the call failed.
func (c *Client) Do(req *Request, stdout, stderr io.Writer) (int, error) {
	return c.DoProgress(req, stdout, stderr, nil)
}

// DoProgress is Do, passing each FrameProgress to progress (which may be
// nil only when the request does not ask for progress).
func (c *Client) DoProgress(req *Request, stdout, stderr io.Writer, progress func(*Progress)) (int, error) {
	// A caller that takes marks (start --wait) knows what it has from
	// them; the host need not wait for acknowledgements.
	acking := c.acks && !req.Marks
	if acking && !req.Acks {
		r := *req
		r.Acks = true
		req = &r
	}
	b, err := encodeRequest(req)
	if err != nil {
		return ExitUnavailable, &Error{Code: ExitUnavailable, Err: err}
	}
	var frame bytes.Buffer
	_ = WriteFrame(&frame, FrameRequest, b)
	if err := sendRequest(c.conn, frame.Bytes(), stdout, stderr); err != nil {
		// The host may have refused the request from its header (too
		// large) and closed: its result says why, better than the
		// broken pipe.
		_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
		if kind, p, rerr := ReadFrame(c.r, nil); rerr == nil && kind == FrameResult {
			var res Result
			if decodeResult(p, &res) == nil && res.Error != "" {
				return res.Code, &Error{Code: res.Code, Err: errors.New(res.Error)}
			}
		}
		return ExitUnavailable, &Error{Code: ExitUnavailable, Err: &NotSentError{Err: fmt.Errorf("cannot talk to the bgjob host: %w", err)}}
	}
	var buf, ack []byte
	var taken uint64 // bytes of reply frames written out
	for {
		kind, p, err := ReadFrame(c.r, buf)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				err = ErrConnectionLost
			case !errors.Is(err, net.ErrClosed): // not our own Close
				err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
			}
			return ExitUnavailable, &Error{Code: ExitUnavailable, Err: err}
		}
		buf = p[:0]
		switch kind {
		case FrameStdout:
			if _, err := stdout.Write(p); err != nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("%w: %w", ErrOutput, err)}
			}
		case FrameStderr:
			if _, err := stderr.Write(p); err != nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("%w: %w", ErrOutput, err)}
			}
		case FrameProgress:
			if progress == nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("unexpected progress frame %q from the host", p)}
			}
			// One record a frame; a host of this version from before
			// that was fixed merged back-to-back records into one
			// frame, so take every object in it.
			dec := json.NewDecoder(bytes.NewReader(p))
			for dec.More() {
				var pr Progress
				if err := dec.Decode(&pr); err != nil {
					return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("unexpected progress frame %q from the host: %w", p, err)}
				}
				progress(&pr)
			}
		case FrameMark:
			m, err := ParseMark(p)
			if err != nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: err}
			}
			if c.Marked != nil {
				c.Marked(m)
			}
		case FrameResult:
			var res Result
			if err := decodeResult(p, &res); err != nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("bad result from the host: %w", err)}
			}
			if res.Error != "" {
				return res.Code, &Error{Code: res.Code, Err: errors.New(res.Error)}
			}
			return res.Code, nil
		default:
			return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("unexpected frame %q from the host", kind)}
		}
		taken += uint64(5 + len(p))
		// Acknowledge what was written out once caught up with what has
		// arrived: one small write per burst of frames, not per frame.
		// A host that has sent its result and closed takes no more: the
		// write fails, and the result is still there to read, so the
		// call goes on without acks; a host that is really gone shows as
		// the read's end.
		if acking && c.r.Buffered() == 0 {
			ack = AppendAck(ack[:0], taken)
			if _, err := c.conn.Write(ack); err != nil {
				acking = false
			}
		}
	}
}

// ErrOutput says that what the host sent could not be written to the
// caller's own stdout or stderr (a full disk): the call was ended here.
var ErrOutput = errors.New("cannot write the output")

// ErrConnectionLost says the host went away in the middle of a call (the
// connection was closed or reset after the request was sent, before its
// result came): the call may or may not have been carried out, so only a
// request that is safe to repeat (a start with its instance id, a restart
// with its request id) may be sent again.
var ErrConnectionLost = errors.New("the bgjob host closed the connection")

// NotSentError says a request never reached the host (it went away between
// connect and send), so sending it again cannot do anything twice.
type NotSentError struct{ Err error }

func (e *NotSentError) Error() string { return e.Err.Error() }
func (e *NotSentError) Unwrap() error { return e.Err }
