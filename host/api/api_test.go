package api

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	frames := []struct {
		kind    byte
		payload []byte
	}{
		{FrameRequest, []byte(`{"op":"ping"}`)},
		{FrameStdout, []byte("hello\n")},
		{FrameStderr, nil},
		{FrameStdout, bytes.Repeat([]byte("x"), 1<<20)},
		{FrameResult, []byte(`{"code":0}`)},
	}
	var buf bytes.Buffer
	for _, f := range frames {
		if err := WriteFrame(&buf, f.kind, f.payload); err != nil {
			t.Fatal(err)
		}
	}
	// The length counts the kind byte and the payload.
	if n := binary.BigEndian.Uint32(buf.Bytes()[:4]); n != uint32(len(frames[0].payload)+1) || buf.Bytes()[4] != FrameRequest {
		t.Errorf("first header: length %d kind %c", n, buf.Bytes()[4])
	}
	br := bufio.NewReader(&buf)
	var reuse []byte
	for i, f := range frames {
		kind, p, err := ReadFrame(br, reuse)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if kind != f.kind || !bytes.Equal(p, f.payload) {
			t.Errorf("frame %d: %c %d bytes, want %c %d bytes", i, kind, len(p), f.kind, len(f.payload))
		}
		reuse = p[:0]
	}
	if _, _, err := ReadFrame(br, nil); err != io.EOF {
		t.Errorf("ReadFrame at the end: %v, want io.EOF", err)
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	var buf bytes.Buffer
	WriteFrame(&buf, FrameStdout, []byte("abc"))
	WriteFrame(&buf, FrameStdout, bytes.Repeat([]byte("y"), 100))
	br := bufio.NewReader(&buf)
	mine := make([]byte, 0, 16)
	_, p, err := ReadFrame(br, mine)
	if err != nil {
		t.Fatal(err)
	}
	if &p[0] != &mine[:1][0] {
		t.Error("a payload that fits was not read into the given buffer")
	}
	_, p, err = ReadFrame(br, mine)
	if err != nil || len(p) != 100 {
		t.Fatalf("%d bytes, %v", len(p), err)
	}
}

func TestReadFrameBadInput(t *testing.T) {
	header := func(n uint32, kind byte) []byte {
		b := make([]byte, 5)
		binary.BigEndian.PutUint32(b, n)
		b[4] = kind
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error // nil: any error
	}{
		{"zero length", header(0, FrameStdout), nil},
		{"too long", header(MaxFrame+1, FrameStdout), nil},
		{"huge", header(0xffffffff, FrameStdout), nil},
		{"short header", []byte{0, 0, 0}, io.ErrUnexpectedEOF},
		{"short payload", append(header(10, FrameStdout), "abc"...), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		_, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.in)), nil)
		if err == nil {
			t.Errorf("%s: ReadFrame accepted %x", tt.name, tt.in)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if tt.want == nil && !strings.Contains(err.Error(), "bad frame length") {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	// The largest frame allowed is read (a header is enough to know).
	_, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(header(1, FrameResult))), nil)
	if err != nil {
		t.Errorf("a frame of just its kind: %v", err)
	}
}

type errWriter struct{ after int }

func (w *errWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("closed")
	}
	w.after--
	return len(p), nil
}

func TestWriteFrameErrors(t *testing.T) {
	if err := WriteFrame(&errWriter{0}, FrameStdout, []byte("x")); err == nil {
		t.Error("a failed header write was not reported")
	}
	if err := WriteFrame(&errWriter{1}, FrameStdout, []byte("x")); err == nil {
		t.Error("a failed payload write was not reported")
	}
}

func TestErrors(t *testing.T) {
	base := errors.New("base")
	e := Errorf(ExitNotFound, "no job %q: %w", "x", base)
	if CodeOf(e) != ExitNotFound || e.Error() != `no job "x": base` || !errors.Is(e, base) {
		t.Errorf("Errorf: code %d, %q, Is base %v", CodeOf(e), e, errors.Is(e, base))
	}
	var ae *Error
	if !errors.As(e, &ae) || ae.Code != ExitNotFound {
		t.Errorf("errors.As: %v", ae)
	}
	if CodeOf(nil) != ExitOK {
		t.Error("CodeOf(nil) != 0")
	}
	if CodeOf(base) != ExitUnavailable {
		t.Errorf("CodeOf(plain) = %d, want %d", CodeOf(base), ExitUnavailable)
	}
	if CodeOf(fmt.Errorf("wrapped: %w", e)) != ExitNotFound {
		t.Error("CodeOf does not see a code through wrapping")
	}
	if WithCode(ExitUsage, nil) != nil {
		t.Error("WithCode(nil) != nil")
	}
	w := WithCode(ExitUsage, base)
	if CodeOf(w) != ExitUsage || !errors.Is(w, base) || w.Error() != "base" {
		t.Errorf("WithCode: %d %v", CodeOf(w), w)
	}
	if k := WithCode(ExitUsage, e); CodeOf(k) != ExitNotFound || k != e {
		t.Errorf("WithCode replaced an existing code: %d", CodeOf(k))
	}
	if k := WithCode(ExitUsage, fmt.Errorf("ctx: %w", e)); CodeOf(k) != ExitNotFound {
		t.Errorf("WithCode replaced a wrapped code: %d", CodeOf(k))
	}
	// Every code has a help text, in order: 0..10, then those a shell
	// knows (130 Ctrl-C, 141 SIGPIPE, 143 SIGTERM).
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ExitInterrupted, ExitBrokenPipe, ExitJobStopped}
	if len(ExitCodes) != len(want) {
		t.Fatalf("%d exit codes, want %d", len(ExitCodes), len(want))
	}
	for i, c := range ExitCodes {
		if c.Code != want[i] || c.Text == "" {
			t.Errorf("ExitCodes[%d] = %+v, want code %d with a text", i, c, want[i])
		}
	}
}

func TestStateFinished(t *testing.T) {
	finished := map[State]bool{Completed: true, Failed: true, Stopped: true}
	for _, s := range AllStates {
		if s.Finished() != finished[s] {
			t.Errorf("%s.Finished() = %v", s, s.Finished())
		}
	}
	if len(AllStates) != 11 {
		t.Errorf("%d states, want 11", len(AllStates))
	}
	if State("completed").Finished() {
		t.Error("Finished is case-insensitive; states are exact")
	}
}

func TestDefaultHome(t *testing.T) {
	t.Setenv("BGJOB_HOME", "/srv/bg")
	t.Setenv("XDG_STATE_HOME", "/xdg")
	if h, err := DefaultHome(); err != nil || h != "/srv/bg" {
		t.Errorf("with BGJOB_HOME: %q %v", h, err)
	}
	// A relative BGJOB_HOME is made absolute.
	t.Setenv("BGJOB_HOME", "rel/home")
	wd, _ := os.Getwd()
	if h, err := DefaultHome(); err != nil || h != filepath.Join(wd, "rel/home") {
		t.Errorf("with a relative BGJOB_HOME: %q %v", h, err)
	}
	t.Setenv("BGJOB_HOME", "")
	if h, err := DefaultHome(); err != nil || h != "/xdg/bgjob" {
		t.Errorf("with XDG_STATE_HOME: %q %v", h, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if h, err := DefaultHome(); err != nil || h != "/home/someone/.local/state/bgjob" {
		t.Errorf("with HOME only: %q %v", h, err)
	}
	t.Setenv("HOME", "")
	if _, err := DefaultHome(); err == nil || !strings.Contains(err.Error(), "BGJOB_HOME") {
		t.Errorf("without any home: %v", err)
	}
	if got := SocketPath("/h"); got != "/h/host.sock" {
		t.Errorf("SocketPath = %q", got)
	}
}

// fakeHost listens on home's socket and answers each connection with
// answer, after its hello and the request.
func fakeHost(t *testing.T, answer func(req *Request, w io.Writer)) string {
	return fakeHostHello(t, `{"version":1,"pid":1}`, answer)
}

// fakeHostHello is fakeHost with the hello given ("" for none: the host
// hangs up at once).
func fakeHostHello(t *testing.T, hello string, answer func(req *Request, w io.Writer)) string {
	t.Helper()
	home, err := os.MkdirTemp("", "bga")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	ln, err := net.Listen("unix", SocketPath(home))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if hello == "" {
					return
				}
				WriteFrame(c, FrameHello, []byte(hello))
				kind, p, err := ReadFrame(bufio.NewReader(c), nil)
				if err != nil || kind != FrameRequest {
					return
				}
				var req Request
				if err := json.Unmarshal(p, &req); err != nil {
					return
				}
				answer(&req, c)
			}()
		}
	}()
	return home
}

func TestClientDo(t *testing.T) {
	home := fakeHost(t, func(req *Request, w io.Writer) {
		switch req.Op {
		case OpPing:
			WriteFrame(w, FrameResult, []byte(`{"code":0}`))
		case OpGet:
			WriteFrame(w, FrameStdout, []byte("out1 "))
			WriteFrame(w, FrameStderr, []byte("err "))
			WriteFrame(w, FrameStdout, []byte(strings.Join(req.Jobs, ",")))
			WriteFrame(w, FrameResult, []byte(`{"code":3,"error":"no job matches"}`))
		case OpStop:
			WriteFrame(w, 'Z', []byte("?"))
		case OpWait:
			WriteFrame(w, FrameResult, []byte(`not json`))
		case OpRemove:
			// hang up without a result
		}
	})
	do := func(req *Request) (int, string, string, error) {
		c, err := Dial(home)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out, errOut bytes.Buffer
		code, err := c.Do(req, &out, &errOut)
		return code, out.String(), errOut.String(), err
	}
	if code, _, _, err := do(&Request{Op: OpPing}); code != 0 || err != nil {
		t.Errorf("ping: %d %v", code, err)
	}
	code, out, errOut, err := do(&Request{Op: OpGet, Jobs: []string{"a", "b"}})
	if code != ExitNotFound || CodeOf(err) != ExitNotFound || err.Error() != "no job matches" {
		t.Errorf("get: %d %v", code, err)
	}
	if out != "out1 a,b" || errOut != "err " {
		t.Errorf("get: stdout %q stderr %q", out, errOut)
	}
	if code, _, _, err := do(&Request{Op: OpStop}); code != ExitUnavailable || err == nil {
		t.Errorf("unknown frame: %d %v", code, err)
	}
	if code, _, _, err := do(&Request{Op: OpWait}); code != ExitUnavailable || err == nil {
		t.Errorf("bad result: %d %v", code, err)
	}
	code, _, _, err = do(&Request{Op: OpRemove})
	if code != ExitUnavailable || CodeOf(err) != ExitUnavailable || !strings.Contains(err.Error(), "closed the connection") {
		t.Errorf("hang-up: %d %v", code, err)
	}
}

func TestConnect(t *testing.T) {
	// A host that is up is dialled straight away.
	home := fakeHost(t, func(_ *Request, w io.Writer) { WriteFrame(w, FrameResult, []byte(`{"code":0}`)) })
	c, err := Connect(home, time.Second, func() (<-chan error, error) { t.Error("start called with a host up"); return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	empty, err := os.MkdirTemp("", "bga")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(empty)
	// No host and no way to start one.
	if _, err := Connect(empty, time.Second, nil); err == nil {
		t.Error("Connect without a host succeeded")
	}
	// Starting fails.
	_, err = Connect(empty, time.Second, func() (<-chan error, error) { return nil, errors.New("no daemon") })
	if CodeOf(err) != ExitUnavailable || !strings.Contains(err.Error(), "no daemon") {
		t.Errorf("failed start: %v", err)
	}
	// The host never comes up.
	_, err = Connect(empty, 100*time.Millisecond, func() (<-chan error, error) { return nil, nil })
	if CodeOf(err) != ExitUnavailable || !strings.Contains(err.Error(), "did not come up") {
		t.Errorf("host never up: %v", err)
	}
	// The host comes up a little after start.
	lnc := make(chan net.Listener, 1)
	c, err = Connect(empty, 10*time.Second, func() (<-chan error, error) {
		go helloLater(t, empty, 50*time.Millisecond, lnc)
		return nil, nil
	})
	if l := <-lnc; l != nil {
		defer l.Close()
	}
	if err != nil {
		t.Fatalf("Connect to a host coming up: %v", err)
	}
	c.Close()

	// Two callers started a host at once: ours lost (exit 6, another host
	// runs), and the winner listens once it has taken its jobs back.
	other := t.TempDir()
	lnc = make(chan net.Listener, 1)
	c, err = Connect(other, 10*time.Second, func() (<-chan error, error) {
		exited := make(chan error, 1)
		exited <- exec.Command("sh", "-c", "exit 6").Run()
		go helloLater(t, other, 100*time.Millisecond, lnc)
		return exited, nil
	})
	if l := <-lnc; l != nil {
		defer l.Close()
	}
	if err != nil {
		t.Fatalf("Connect when another caller's host won the start: %v", err)
	}
	c.Close()

	// The host that held the home was closing (SIGTERM, its idle exit):
	// it never answers, and a host started again once it has gone does.
	closing := t.TempDir()
	lnc = make(chan net.Listener, 1)
	starts := 0
	c, err = Connect(closing, 10*time.Second, func() (<-chan error, error) {
		starts++
		exited := make(chan error, 1)
		if starts == 1 {
			exited <- exec.Command("sh", "-c", "exit 6").Run()
		} else {
			go helloLater(t, closing, 50*time.Millisecond, lnc)
		}
		return exited, nil
	})
	if err != nil {
		t.Fatalf("Connect while the host holding the home closed: %v (hosts started: %d)", err, starts)
	}
	if l := <-lnc; l != nil {
		defer l.Close()
	}
	c.Close()
}

// helloLater is a host that comes up after delay in home: it listens
// (handing its listener to lnc) and greets every caller.
func helloLater(t *testing.T, home string, delay time.Duration, lnc chan<- net.Listener) {
	time.Sleep(delay)
	l, err := net.Listen("unix", SocketPath(home))
	if err != nil {
		t.Error(err)
	}
	lnc <- l
	for l != nil {
		c, err := l.Accept()
		if err != nil {
			return
		}
		WriteFrame(c, FrameHello, []byte(`{"version":1}`))
		c.Close()
	}
}

func TestRequestJSON(t *testing.T) {
	// The wire names are the contract between CLI and host.
	req := Request{Op: OpReceive, Jobs: []string{"1"}, Keep: true, Timeout: 1.5,
		Start: &StartRequest{Workdir: "/w", Input: []byte{0, 1}}, Filter: &Filter{State: "Running"}}
	b, err := json.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"receive","jobs":["1"],"start":{"input":"AAE=","workdir":"/w"},"filter":{"state":"Running"},"keep":true,"timeout":1.5}`
	if string(b) != want {
		t.Errorf("request JSON:\n%s\nwant\n%s", b, want)
	}
	var back Request
	if err := json.Unmarshal(b, &back); err != nil || !bytes.Equal(back.Start.Input, []byte{0, 1}) || back.Timeout != 1.5 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

// A connection that ends without a hello is no host; a host of another
// wire version, or one that refuses the caller, says so.
func TestDialHello(t *testing.T) {
	gone := fakeHostHello(t, "", nil)
	if _, err := Dial(gone); !errors.Is(err, ErrNoHost) {
		t.Errorf("Dial to a socket that hangs up: %v, want ErrNoHost", err)
	}
	// Connect then starts a host (here: nothing comes up in time).
	_, err := Connect(gone, 50*time.Millisecond, func() (<-chan error, error) { return nil, nil })
	if CodeOf(err) != ExitUnavailable || !strings.Contains(err.Error(), "did not come up") {
		t.Errorf("Connect to a dead host's socket: %v", err)
	}
	other := fakeHostHello(t, `{"version":99,"pid":4242}`, nil)
	_, err = Dial(other)
	if CodeOf(err) != ExitUnavailable || !strings.Contains(err.Error(), "version 99") || !strings.Contains(err.Error(), "kill 4242") {
		t.Errorf("Dial to a host of another version: %v", err)
	}
	started := false
	if _, err := Connect(other, time.Second, func() (<-chan error, error) { started = true; return nil, nil }); err == nil || started {
		t.Errorf("Connect to a host of another version: %v, started a host: %v", err, started)
	}
}

// Instance ids are version 4 UUIDs in the form a caller may choose, and
// do not repeat.
func TestNewInstanceID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := NewInstanceID()
		if !ValidInstanceID(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("%q is not a version 4 UUID in lower-case form", id)
		}
		if seen[id] {
			t.Fatalf("%q came twice in %d ids", id, i+1)
		}
		seen[id] = true
	}
}
