//go:build unix

package server

import (
	"bufio"
	"bytes"
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

type frameRec struct {
	kind    byte
	payload string
}

// readFrames parses b as frames with api.ReadFrame.
func readFrames(t *testing.T, b []byte) []frameRec {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	var out []frameRec
	for {
		kind, p, err := api.ReadFrame(br, nil)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("ReadFrame after %d frames: %v", len(out), err)
		}
		out = append(out, frameRec{kind, string(p)})
	}
}

// countingWriter counts the writes reaching the connection.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestReplyFraming(t *testing.T) {
	var conn countingWriter
	rep := newReply(&conn)
	out, errw := rep.writer(api.FrameStdout), rep.writer(api.FrameStderr)
	fmt.Fprint(out, "a")
	fmt.Fprint(out, "b")
	fmt.Fprint(errw, "c")
	out.Write(nil) // an empty write makes no frame
	fmt.Fprint(out, "d")
	if conn.writes != 0 {
		t.Errorf("%d writes before a flush; a reply gathers small writes", conn.writes)
	}
	if err := rep.flush(); err != nil {
		t.Fatal(err)
	}
	rep.flush() // nothing to write
	fmt.Fprint(out, "e")
	fmt.Fprint(errw, "f")
	rep.result(fmt.Errorf("no job matches %q: %w", "x", host.ErrNotFound))

	got := readFrames(t, conn.Bytes())
	want := []frameRec{
		{api.FrameStdout, "ab"},
		{api.FrameStderr, "c"},
		{api.FrameStdout, "d"},
		{api.FrameStdout, "e"},
		{api.FrameStderr, "f"},
	}
	if len(got) != len(want)+1 {
		t.Fatalf("frames %q", got)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("frame %d = %c %q, want %c %q", i, got[i].kind, got[i].payload, w.kind, w.payload)
		}
	}
	last := got[len(got)-1]
	if last.kind != api.FrameResult {
		t.Fatalf("the last frame is %c, want the result", last.kind)
	}
	var res api.Result
	if err := json.Unmarshal([]byte(last.payload), &res); err != nil {
		t.Fatal(err)
	}
	if res.Code != api.ExitNotFound || !strings.Contains(res.Error, `no job matches "x"`) {
		t.Errorf("result %+v", res)
	}

	// A success has code 0 and no error.
	conn.Reset()
	rep = newReply(&conn)
	rep.result(nil)
	got = readFrames(t, conn.Bytes())
	if len(got) != 1 || got[0].kind != api.FrameResult || got[0].payload != `{"code":0}` {
		t.Errorf("success reply: %q", got)
	}
	// An error without a code is ExitUnavailable.
	conn.Reset()
	rep = newReply(&conn)
	rep.result(errors.New("internal"))
	got = readFrames(t, conn.Bytes())
	if len(got) != 1 || got[0].payload != `{"code":7,"error":"internal"}` {
		t.Errorf("plain error reply: %q", got)
	}
}

func TestReplyLargeInterleaved(t *testing.T) {
	// Much more than a reply gathers, in writes of varied sizes to both
	// streams: the bytes of each stream arrive whole and in order, and the
	// interleaving is kept.
	var conn countingWriter
	rep := newReply(&conn)
	out, errw := rep.writer(api.FrameStdout), rep.writer(api.FrameStderr)
	var wantOut, wantErr, wantSeq strings.Builder
	big := strings.Repeat("x", 300<<10)
	for i := 0; i < 40; i++ {
		s := fmt.Sprintf("out %d %s\n", i, big[:i*7919%len(big)])
		out.Write([]byte(s))
		wantOut.WriteString(s)
		wantSeq.WriteString("O")
		if i%3 == 0 {
			e := fmt.Sprintf("err %d\n", i)
			errw.Write([]byte(e))
			wantErr.WriteString(e)
			wantSeq.WriteString("E")
		}
	}
	rep.result(nil)
	frames := readFrames(t, conn.Bytes())
	var gotOut, gotErr, seq strings.Builder
	for i, f := range frames {
		switch f.kind {
		case api.FrameStdout:
			gotOut.WriteString(f.payload)
		case api.FrameStderr:
			gotErr.WriteString(f.payload)
		case api.FrameResult:
			if i != len(frames)-1 {
				t.Errorf("result frame %d of %d", i, len(frames))
			}
			continue
		}
		if len(f.payload) == 0 {
			t.Errorf("frame %d is empty", i)
		}
		// Consecutive frames of one stream only where a flush cut one.
		if seq.Len() == 0 || seq.String()[seq.Len()-1] != f.kind {
			seq.WriteByte(f.kind)
		}
	}
	if gotOut.String() != wantOut.String() {
		t.Errorf("stdout differs: %d bytes, want %d", gotOut.Len(), wantOut.Len())
	}
	if gotErr.String() != wantErr.String() {
		t.Errorf("stderr %q, want %q", gotErr.String(), wantErr.String())
	}
	// Collapse runs of the expected sequence the same way.
	var wantRuns strings.Builder
	for _, c := range []byte(wantSeq.String()) {
		if wantRuns.Len() == 0 || wantRuns.String()[wantRuns.Len()-1] != c {
			wantRuns.WriteByte(c)
		}
	}
	if seq.String() != wantRuns.String() {
		t.Errorf("stream order %s, want %s", seq.String(), wantRuns.String())
	}
	if conn.writes > 1+wantOut.Len()/frameData+1 {
		t.Errorf("%d writes for %d bytes", conn.writes, wantOut.Len())
	}
	for i, f := range frames {
		if len(f.payload) > frameData+len(big)+100 {
			t.Errorf("frame %d has %d bytes", i, len(f.payload))
		}
	}
}

// TestReplyDirectInterleaved writes to the caller's own files pieces
// below and above directWrite, to stdout and stderr sharing one file (2>&1)
// and to two files: a large piece written as it is still comes after the
// small ones gathered before it, on both streams.
func TestReplyDirectInterleaved(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	write := func(outF, errF *os.File) (wantOut, wantErr string) {
		var conn countingWriter
		rep := newReply(&conn)
		rep.direct = map[byte]*os.File{api.FrameStdout: outF, api.FrameStderr: errF}
		out, errw := rep.writer(api.FrameStdout), rep.writer(api.FrameStderr)
		var wo, we strings.Builder
		for i := range 30 {
			size := []int{3, directWrite - 1, directWrite, 64 << 10, 2 << 20}[i%5]
			s := fmt.Sprintf("out %d %s\n", i, strings.Repeat(string(rune('a'+i%26)), size))
			out.Write([]byte(s))
			wo.WriteString(s)
			if i%4 == 0 {
				e := fmt.Sprintf("err %d %s\n", i, strings.Repeat("e", []int{5, directWrite}[i%8/4]))
				errw.Write([]byte(e))
				if outF == errF {
					wo.WriteString(e)
				} else {
					we.WriteString(e)
				}
			}
		}
		rep.result(nil)
		return wo.String(), we.String()
	}
	check := func(f *os.File, want string) {
		t.Helper()
		got, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Errorf("%s: %d bytes, want %d; first difference at byte %d", filepath.Base(f.Name()), len(got), len(want), i)
		}
	}
	both := open("both")
	wantBoth, _ := write(both, both)
	check(both, wantBoth)
	outF, errF := open("out"), open("err")
	wantOut, wantErr := write(outF, errF)
	check(outF, wantOut)
	check(errF, wantErr)
}

// failingWriter fails every write.
type failingWriter struct{ n int }

func (w *failingWriter) Write([]byte) (int, error) {
	w.n++
	return 0, errors.New("broken pipe")
}

func TestReplyWriteError(t *testing.T) {
	w := &failingWriter{}
	rep := newReply(w)
	out := rep.writer(api.FrameStdout)
	out.Write([]byte("a"))
	if err := rep.flush(); err == nil {
		t.Fatal("flush to a broken connection succeeded")
	}
	if _, err := out.Write([]byte("b")); err == nil {
		t.Error("a write after a failed flush succeeded")
	}
	rep.result(nil)
	if w.n != 1 {
		t.Errorf("%d writes to a broken connection, want 1", w.n)
	}
}

// serve runs th's server until the test ends and returns a function that
// makes one call.
func serve(t *testing.T, th *hosttest.Host) func(req *api.Request) (int, string, string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, th.Host, Options{}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return within 10s of its context's end")
		}
		if _, err := os.Stat(api.SocketPath(th.Dir)); !os.IsNotExist(err) {
			t.Errorf("the socket is left after Serve: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := api.Dial(th.Dir)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host did not listen within 10s: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func(req *api.Request) (int, string, string, error) {
		c, err := api.Dial(th.Dir)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		var stdout, stderr bytes.Buffer
		code, err := c.Do(req, &stdout, &stderr)
		return code, stdout.String(), stderr.String(), err
	}
}

func TestServe(t *testing.T) {
	th := fakeHost(t)
	call := serve(t, th)

	if code, out, _, err := call(&api.Request{Op: api.OpPing}); code != 0 || err != nil || out != "" {
		t.Fatalf("ping: %d %q %v", code, out, err)
	}
	dir := t.TempDir()
	code, out, _, err := call(&api.Request{Op: api.OpStart, Output: api.FormatJSON,
		Start: &api.StartRequest{Name: "S", Script: "echo out; echoerr err", Workdir: dir, Env: hosttest.JobEnv}})
	if code != 0 || err != nil {
		t.Fatalf("start: %d %v", code, err)
	}
	var started api.Job
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.ID != 1 || started.Name != "S" {
		t.Fatalf("start printed %q (%v)", out, err)
	}
	if code, _, _, err := call(&api.Request{Op: api.OpWait, Jobs: []string{"S"}, Timeout: 30}); code != 0 {
		t.Fatalf("wait: %d %v", code, err)
	}
	code, out, _, err = call(&api.Request{Op: api.OpGet})
	if code != 0 || err != nil {
		t.Fatalf("get: %d %v", code, err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "Id") || !equalStrings(strings.Fields(lines[2])[:6], []string{"1", "S", "BackgroundJob", "Completed", "True", "localhost"}) {
		t.Errorf("get printed:\n%s", out)
	}
	code, out, _, _ = call(&api.Request{Op: api.OpGet, Output: api.FormatJSON, Filter: &api.Filter{State: "completed"}})
	var list []api.Job
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0].ID != 1 {
		t.Errorf("get -o json: %d %v %q", code, err, out)
	}
	code, out, errOut, err := call(&api.Request{Op: api.OpReceive, Jobs: []string{"1"}, Keep: true})
	if code != 0 || err != nil || out != "out\n" || errOut != "err\n" {
		t.Errorf("receive: %d %v stdout %q stderr %q", code, err, out, errOut)
	}
	code, out, _, _ = call(&api.Request{Op: api.OpReceive, Jobs: []string{"1"}, Output: api.FormatJSON})
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"value":"out"`) {
		t.Errorf("receive -o json: %d %q", code, out)
	}

	// Errors come back with their exit codes.
	errTests := []struct {
		req  api.Request
		code int
	}{
		{api.Request{Op: api.OpGet, Jobs: []string{"nope"}}, api.ExitNotFound},
		{api.Request{Op: api.OpGet, Filter: &api.Filter{State: "bogus"}}, api.ExitUsage},
		{api.Request{Op: "dance"}, api.ExitUsage},
		{api.Request{Op: api.OpStart}, api.ExitUsage},
		{api.Request{Op: api.OpStart, Start: &api.StartRequest{Script: "echo"}}, api.ExitUsage},
		{api.Request{Op: api.OpStart, Start: &api.StartRequest{Script: "echo", Workdir: dir, Runtime: "nosuch"}}, api.ExitRuntime},
		{api.Request{Op: api.OpReceive}, api.ExitUsage},
		{api.Request{Op: api.OpWait}, api.ExitUsage},
		{api.Request{Op: api.OpStop}, api.ExitUsage},
		{api.Request{Op: api.OpRemove}, api.ExitUsage},
		{api.Request{Op: api.OpReceive, Jobs: []string{"1"}, AutoRemove: true}, api.ExitUsage},
		{api.Request{Op: api.OpGet, Filter: &api.Filter{Newest: -1}}, api.ExitUsage},
	}
	for _, tt := range errTests {
		code, _, _, err := call(&tt.req)
		if code != tt.code || err == nil || api.CodeOf(err) != tt.code {
			t.Errorf("%+v: code %d, error %v; want code %d", tt.req, code, err, tt.code)
		}
	}
	// Each command that acts on jobs says, in its words, that none were
	// named; all but receive take a state filter instead.
	for op, words := range map[string]string{api.OpReceive: "receive from", api.OpWait: "wait for", api.OpStop: "stop",
		api.OpRemove: "remove", api.OpSuspend: "suspend", api.OpResume: "resume", api.OpRestart: "restart"} {
		_, _, _, err := call(&api.Request{Op: op})
		if api.CodeOf(err) != api.ExitUsage || err.Error() != "name the jobs to "+words {
			t.Errorf("%s with no jobs named: %v", op, err)
		}
		if op == api.OpReceive {
			continue
		}
		_, _, _, err = call(&api.Request{Op: op, Filter: &api.Filter{State: "Suspended"}})
		if err != nil && strings.Contains(err.Error(), "name the jobs") {
			t.Errorf("%s --state: %v", op, err)
		}
	}

	// start --wait: the output, then the job is gone; a job that fails
	// with a status of its own exits with it, and the reason is on stderr.
	code, out, _, err = call(&api.Request{Op: api.OpStart, Wait: true, Start: &api.StartRequest{Script: "echo w1; echo w2", Workdir: dir, Env: hosttest.JobEnv}})
	if code != 0 || err != nil || out != "w1\nw2\n" {
		t.Errorf("start --wait: %d %v %q", code, err, out)
	}
	code, _, errOut, err = call(&api.Request{Op: api.OpStart, Wait: true, Start: &api.StartRequest{Script: "exit 3", Workdir: dir, Env: hosttest.JobEnv}})
	if code != 3 || err != nil || !strings.Contains(errOut, "failed: exit status 3") {
		t.Errorf("start --wait of a failing job: code %d, error %v, stderr %q; want code 3 and the reason on stderr", code, err, errOut)
	}
	if js, _ := th.Jobs(context.Background(), nil, nil); !idsEqual(ids(js), 1) {
		t.Errorf("start --wait left jobs %v", ids(js))
	}
	if code, _, _, err := call(&api.Request{Op: api.OpRemove, Jobs: []string{"1"}}); code != 0 {
		t.Errorf("remove: %d %v", code, err)
	}

	// A request that is not JSON is a usage error; a connection that sends
	// nothing is simply closed.
	conn, err := net.Dial("unix", api.SocketPath(th.Dir))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if kind, p, err := api.ReadFrame(br, nil); err != nil || kind != api.FrameHello || !strings.Contains(string(p), `"version":1`) {
		t.Fatalf("the first frame is %c %s %v, want the hello", kind, p, err)
	}
	if err := api.WriteFrame(conn, api.FrameRequest, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	kind, p, err := api.ReadFrame(br, nil)
	if err != nil || kind != api.FrameResult || !strings.Contains(string(p), `"code":2`) {
		t.Errorf("bad JSON: %c %s %v", kind, p, err)
	}
	conn2, err := net.Dial("unix", api.SocketPath(th.Dir))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	br2 := bufio.NewReader(conn2)
	if kind, _, err := api.ReadFrame(br2, nil); err != nil || kind != api.FrameHello {
		t.Fatalf("the first frame is %c, %v, want the hello", kind, err)
	}
	// A frame that is not a request: the host hangs up without a reply.
	if err := api.WriteFrame(conn2, api.FrameStdout, []byte("x")); err != nil {
		t.Fatal(err)
	}
	conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := br2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after a frame that is not a request the host answered: %d bytes, %v", n, err)
	}
}

func TestServeReceiveWaitStreams(t *testing.T) {
	th := fakeHost(t)
	call := serve(t, th)
	th.Start("lines 3000 line; echoerr bye")
	code, out, errOut, err := call(&api.Request{Op: api.OpReceive, Jobs: []string{"1"}, Wait: true, AutoRemove: true})
	if code != 0 || err != nil {
		t.Fatalf("receive --wait: %d %v", code, err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3000 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		if l != fmt.Sprintf("line%d", i+1) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
	if errOut != "bye\n" {
		t.Errorf("stderr %q", errOut)
	}
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Errorf("auto-remove left %v", ids(js))
	}
}

func TestServeSocketPathTooLong(t *testing.T) {
	home := filepath.Join(hosttest.Home(t), strings.Repeat("d", 110))
	opts, _ := hosttest.Fake(t)
	th := hosttest.Open(t, home, opts)
	// A deadline, so that a regression fails rather than hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Serve(ctx, th.Host, Options{})
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("Serve with a %d-byte socket path: %v", len(api.SocketPath(home)), err)
	}
}

// envPeerHelper makes the test binary a client of the host whose home the
// variable names (see peerHelper).
const envPeerHelper = "BGJOB_HOST_TEST_PEER_HOME"

// peerHelper connects to the host and prints the exit code and error of the
// result it gets. It reads before it writes: the host answers a caller it
// refuses at once, without reading its request.
func peerHelper() int {
	c, err := net.Dial("unix", api.SocketPath(os.Getenv(envPeerHelper)))
	if err != nil {
		fmt.Printf("dial: %v\n", err)
		return 0
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, p, err := api.ReadFrame(bufio.NewReader(c), nil)
	if err != nil {
		fmt.Printf("read: %v\n", err)
		return 0
	}
	var res api.Result
	if kind != api.FrameResult || json.Unmarshal(p, &res) != nil {
		fmt.Printf("frame %c: %q\n", kind, p)
		return 0
	}
	fmt.Printf("code %d: %s\n", res.Code, res.Error)
	return 0
}

func TestServeRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	th := fakeHost(t)
	call := serve(t, th)
	if code, _, _, err := call(&api.Request{Op: api.OpPing}); code != 0 {
		t.Fatalf("ping as ourselves: %d %v", code, err)
	}
	// Take down the first wall (the home's mode) to reach the second.
	if err := os.Chmod(th.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(api.SocketPath(th.Dir), 0o777); err != nil {
		t.Fatal(err)
	}
	// The test binary, where user nobody may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir, err := os.MkdirTemp("", "bghpeer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(binDir)
	os.Chmod(binDir, 0o755)
	bin := filepath.Join(binDir, "peer")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{envPeerHelper + "=" + th.Dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peer helper: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), fmt.Sprintf("code %d: ", api.ExitUnavailable)) || !strings.Contains(string(out), "uid 65534 may not use") {
		t.Errorf("a call as uid 65534 got %q, want a refusal with exit code %d", out, api.ExitUnavailable)
	}
}

// bgjobd stops by cancelling Serve's context and then closing the host. A
// call still being answered at that moment must end consistently: here a
// draining receive is mid-reply (the caller reads slowly) when the host
// shuts down. Either the caller is cut off, and the records stay for the
// next host; or it gets the whole reply and a success, and then the records
// are received and must not come a second time after a restart.
func TestServeShutdownDuringReceive(t *testing.T) {
	home := hosttest.Home(t)
	opts, _ := hosttest.Fake(t)
	th := hosttest.Open(t, home, opts)
	// Far more output than the socket buffers hold, so the reply blocks
	// until the caller reads.
	const n = 400000
	th.Start(fmt.Sprintf("seqw %d 70", n))
	th.Await("1")

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, th.Host, Options{}) }()
	var conn net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", api.SocketPath(home))
		if err == nil {
			conn = c
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the host did not listen: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	defer conn.Close()
	req, _ := json.Marshal(&api.Request{Op: api.OpReceive, Jobs: []string{"1"}})
	if err := api.WriteFrame(conn, api.FrameRequest, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	if kind, _, err := api.ReadFrame(br, nil); err != nil || kind != api.FrameHello {
		t.Fatalf("the first frame is %c, %v, want the hello", kind, err)
	}
	kind, first, err := api.ReadFrame(br, nil)
	if err != nil || kind != api.FrameStdout {
		t.Fatalf("first frame %c: %v", kind, err)
	}

	// Shut down as bgjobd does: cancel Serve, and once it has returned,
	// close the host. The caller reads the rest of its reply once Serve
	// has returned (or after a second, should Serve wait for the call).
	cancel()
	type outcome struct {
		bytes int
		res   *api.Result
		err   error
	}
	readDone := make(chan outcome, 1)
	serveDone := make(chan struct{})
	go func() {
		select {
		case <-serveDone:
		case <-time.After(time.Second):
		}
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		o := outcome{bytes: len(first)}
		for {
			kind, p, err := api.ReadFrame(br, nil)
			if err != nil {
				o.err = err
				break
			}
			if kind == api.FrameResult {
				o.res = new(api.Result)
				json.Unmarshal(p, o.res)
				break
			}
			o.bytes += len(p)
		}
		readDone <- o
	}()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return within 20s of its context's end")
	}
	close(serveDone)
	th.Close()
	o := <-readDone

	th2 := hosttest.Open(t, home, opts)
	more := th2.Job("1").HasMoreData
	complete := o.err == nil && o.res != nil && o.res.Code == 0 && o.bytes == n*71
	t.Logf("the caller got %d of %d bytes, result %+v, error %v; after a restart HasMoreData is %v", o.bytes, n*71, o.res, o.err, more)
	switch {
	case complete && more:
		t.Errorf("the caller got every record and a success, yet after a restart the job still has them (HasMoreData true): " +
			"Serve returned while the call was still running, the host closed its job table, and the call's drain was never recorded")
	case !complete && !more:
		t.Errorf("the caller was cut off, yet after a restart the records are gone")
	}
}

// A caller whose stdout and stderr are files (a terminal, a redirect) may
// have the host write to them; what the caller sees is the same either way,
// stdout and stderr in order when they are one file (2>&1).
func TestServeOutputToFiles(t *testing.T) {
	th := fakeHost(t)
	serve(t, th)
	th.Start("echo o1; echoerr e1; echo o2; warn w; lines 2000 n; echoerr e2")
	th.Await("1")
	var want strings.Builder
	want.WriteString("o1\ne1\no2\nWARNING: w\n")
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&want, "n%d\n", i)
	}
	want.WriteString("e2\n")

	do := func(stdout, stderr *os.File, req *api.Request) {
		t.Helper()
		c, err := api.Dial(th.Dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if code, err := c.Do(req, stdout, stderr); code != 0 || err != nil {
			t.Fatalf("%s: %d %v", req.Op, code, err)
		}
	}
	dir := t.TempDir()
	both, err := os.Create(filepath.Join(dir, "both"))
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	do(both, both, &api.Request{Op: api.OpReceive, Jobs: []string{"1"}, Keep: true})
	if got, _ := os.ReadFile(both.Name()); string(got) != want.String() {
		t.Errorf("receive into one file for stdout and stderr: %d bytes, want %d; starts %q", len(got), want.Len(), string(got[:min(len(got), 40)]))
	}

	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "err"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	do(out, errf, &api.Request{Op: api.OpReceive, Jobs: []string{"1"}})
	gotOut, _ := os.ReadFile(out.Name())
	gotErr, _ := os.ReadFile(errf.Name())
	wantOut := strings.Replace(strings.Replace(strings.Replace(want.String(), "e1\n", "", 1), "WARNING: w\n", "", 1), "e2\n", "", 1)
	if string(gotOut) != wantOut {
		t.Errorf("stdout file: %d bytes, want %d", len(gotOut), len(wantOut))
	}
	if string(gotErr) != "e1\nWARNING: w\ne2\n" {
		t.Errorf("stderr file: %q", gotErr)
	}
	if th.Job("1").HasMoreData {
		t.Error("the receive did not drain the job")
	}
	// A failing call still reports its error with files attached.
	c, err := api.Dial(th.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, err := c.Do(&api.Request{Op: api.OpGet, Jobs: []string{"nope"}}, out, errf); code != api.ExitNotFound || err == nil {
		t.Errorf("get nope with files: %d %v", code, err)
	}
}

// A request larger than the socket's buffer (a big input, many arguments, a
// large environment) arrives whole, also when the caller passes its stdout
// and stderr along with it.
func TestServeLargeRequest(t *testing.T) {
	th := fakeHost(t)
	serve(t, th)
	dir := t.TempDir()
	var input bytes.Buffer
	for i := 0; input.Len() < 3<<20; i++ {
		fmt.Fprintf(&input, "input line %d\n", i)
	}
	args := make([]string, 100000)
	for i := range args {
		args[i] = "a"
	}
	env := append([]string{"BIG=" + strings.Repeat("e", 240<<10)}, hosttest.JobEnv...)
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	c, err := api.Dial(th.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		code, err := c.Do(&api.Request{Op: api.OpStart, Wait: true, Start: &api.StartRequest{
			Script: "cat", Input: input.Bytes(), Args: args, Env: env, Workdir: dir}}, out, out)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit code %d", code)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start --wait with a large request: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a large request hung the call")
	}
	if got, _ := os.ReadFile(out.Name()); !bytes.Equal(got, input.Bytes()) {
		t.Errorf("the job's output is %d bytes, want its %d bytes of input back", len(got), input.Len())
	}
}

// A request frame larger than any a CLI sends (a job's input is at most
// api.MaxInput) is refused from its header with a usage error naming the
// limit, without the host reading (or the caller sending) the rest.
func TestServeRefusesOversizedRequest(t *testing.T) {
	th := fakeHost(t)
	serve(t, th)
	conn, err := net.Dial("unix", api.SocketPath(th.Dir))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if kind, _, err := api.ReadFrame(br, nil); err != nil || kind != api.FrameHello {
		t.Fatalf("the first frame is %c, %v, want the hello", kind, err)
	}
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], api.MaxRequest+2)
	hdr[4] = api.FrameRequest
	if _, err := conn.Write(append(hdr[:], `{"op":"start"`...)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, p, err := api.ReadFrame(br, nil)
	if err != nil || kind != api.FrameResult || !strings.Contains(string(p), `"code":2`) || !strings.Contains(string(p), "64 MiB") {
		t.Fatalf("an oversized request got %c %s %v, want a usage error naming the limit", kind, p, err)
	}
}
