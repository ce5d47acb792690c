package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
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

// SocketPath is the host's socket inside home.
func SocketPath(home string) string { return filepath.Join(home, "host.sock") }

// Client is one connection to a host.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
}

// Dial connects to the host serving home.
func Dial(home string) (*Client, error) {
	c, err := net.Dial("unix", SocketPath(home))
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(*net.UnixConn); ok && !peerAlive(uc) {
		c.Close()
		return nil, fmt.Errorf("the host on %s has died", home)
	}
	return &Client{conn: c, r: bufio.NewReaderSize(c, 1<<20)}, nil
}

// Connect dials the host serving home, and if none answers calls start and
// waits up to timeout for the host to come up.
func Connect(home string, timeout time.Duration, start func() error) (*Client, error) {
	c, err := Dial(home)
	if err == nil {
		return c, nil
	}
	if start == nil {
		return nil, err
	}
	if err := start(); err != nil {
		return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("cannot start the bgjob host: %w", err)}
	}
	deadline := time.Now().Add(timeout)
	for wait := 500 * time.Microsecond; ; wait = min(2*wait, 50*time.Millisecond) {
		c, err = Dial(home)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, &Error{Code: ExitUnavailable, Err: fmt.Errorf("the bgjob host did not come up within %v: %w (see %s)", timeout, err, filepath.Join(home, "host.log"))}
		}
		time.Sleep(wait)
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends req and copies the reply's stdout and stderr frames to stdout
// and stderr until the result arrives; it returns the result's exit code and
// an *Error when the call failed.
func (c *Client) Do(req *Request, stdout, stderr io.Writer) (int, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return ExitUnavailable, &Error{Code: ExitUnavailable, Err: err}
	}
	var frame bytes.Buffer
	_ = WriteFrame(&frame, FrameRequest, b)
	if err := sendRequest(c.conn, frame.Bytes(), stdout, stderr); err != nil {
		return ExitUnavailable, &Error{Code: ExitUnavailable, Err: &NotSentError{Err: fmt.Errorf("cannot talk to the bgjob host: %w", err)}}
	}
	var buf []byte
	for {
		kind, p, err := ReadFrame(c.r, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the bgjob host closed the connection")
			}
			return ExitUnavailable, &Error{Code: ExitUnavailable, Err: err}
		}
		buf = p[:0]
		switch kind {
		case FrameStdout:
			if _, err := stdout.Write(p); err != nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: err}
			}
		case FrameStderr:
			if _, err := stderr.Write(p); err != nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: err}
			}
		case FrameResult:
			var res Result
			if err := json.Unmarshal(p, &res); err != nil {
				return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("bad result from the host: %w", err)}
			}
			if res.Error != "" {
				return res.Code, &Error{Code: res.Code, Err: errors.New(res.Error)}
			}
			return res.Code, nil
		default:
			return ExitUnavailable, &Error{Code: ExitUnavailable, Err: fmt.Errorf("unexpected frame %q from the host", kind)}
		}
	}
}

// NotSentError says a request never reached the host (it went away between
// connect and send), so sending it again cannot do anything twice.
type NotSentError struct{ Err error }

func (e *NotSentError) Error() string { return e.Err.Error() }
func (e *NotSentError) Unwrap() error { return e.Err }
