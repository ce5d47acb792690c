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
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/hashicorp/go-hclog"
)

// Options say where and for whom a host serves.
type Options struct {
	// Socket is where to listen; empty is the host's home (a user's
	// host).
	Socket string
	// System serves every local user (a root host, bgjob host --system):
	// the socket may be reached by anyone, and each call is the peer's,
	// who sees only their own jobs. Otherwise every peer must be the
	// host's own user.
	System bool
}

// Serve answers CLI calls on h's unix socket until ctx ends. A user's host
// listens in its home, which is 0700, and refuses any peer but its own
// user; a system host listens where anyone may connect, and every call is
// made as the peer the kernel names (SO_PEERCRED), never as the client
// says.
func Serve(ctx context.Context, h *host.Host, o Options) error {
	s := &server{h: h, log: h.Logger(), system: o.System, peer: api.PeerCred}
	sock := o.Socket
	if sock == "" {
		sock = api.SocketPath(h.Home())
	}
	if o.System {
		if err := systemSocketDir(filepath.Dir(sock)); err != nil {
			return err
		}
	}
	return s.serve(ctx, sock)
}

// server answers one host's socket.
type server struct {
	h      *host.Host
	log    hclog.Logger
	system bool
	// peer names who is at the other end of a connection.
	peer func(*net.UnixConn) (api.Cred, error)
	// hello is the hello frame, the same for every connection.
	hello []byte

	// callsMu guards calls: how many connections each user other than
	// root holds open on a system host (see maxCallsPerUser).
	// refusedLog is when a refusal was last logged: one a minute at
	// most, or the refusals would fill root's disk with the log.
	callsMu    sync.Mutex
	calls      map[uint32]int
	refusedLog time.Time
}

// maxCallsPerUser bounds the connections one user holds open at once on a
// system host. Each holds a descriptor of root's host (three with the
// caller's stdout and stderr); unbounded, any user could open idle
// connections until the host had no descriptor left for anyone's jobs.
// A call that waits (wait, receive --wait, events) holds one for as long
// as it waits: this is far more of those than a user runs.
const maxCallsPerUser = 512

// holdCall counts a connection of uid, or reports false if uid holds
// maxCallsPerUser already.
func (s *server) holdCall(uid uint32) bool {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	if s.calls[uid] >= maxCallsPerUser {
		if time.Since(s.refusedLog) > time.Minute {
			s.refusedLog = time.Now()
			s.log.Warn("refused connections: too many at once from one user (logged once a minute)", "uid", uid, "max", maxCallsPerUser)
		}
		return false
	}
	if s.calls == nil {
		s.calls = map[uint32]int{}
	}
	s.calls[uid]++
	return true
}

func (s *server) releaseCall(uid uint32) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	if s.calls[uid]--; s.calls[uid] <= 0 {
		delete(s.calls, uid)
	}
}

func (s *server) serve(ctx context.Context, sock string) error {
	hello, _ := json.Marshal(api.Hello{Version: api.WireVersion, Pid: os.Getpid(), Acks: true})
	var frame bytes.Buffer
	_ = api.WriteFrame(&frame, api.FrameHello, hello)
	s.hello = frame.Bytes()
	if len(sock) >= 104 {
		return fmt.Errorf("the socket path %s is too long for a unix socket (%d bytes, at most 103); use a shorter BGJOB_HOME", sock, len(sock))
	}
	// A socket left by a host that died: ours now, since we hold the store.
	_ = os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", sock, err)
	}
	ln.SetUnlinkOnClose(true)
	if s.system {
		// Anyone may connect; who they are is checked per connection.
		if err := os.Chmod(sock, 0o666); err != nil {
			ln.Close()
			return fmt.Errorf("cannot open the system socket %s to every user: %w", sock, err)
		}
	}
	// On shutdown, end the calls in flight (closing a connection cancels
	// its call) and wait for them, so none outlives the Host it uses.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[*net.UnixConn]bool{}
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		// A call blocked writing to a caller's stdout that nobody reads
		// cannot be interrupted; don't let it hold the shutdown for ever.
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.log.Warn("calls still running at shutdown; leaving them")
		}
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var pause time.Duration
	var outWarned time.Time
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if outOfDescriptors(err) {
				// Out of descriptors for now (callers hold them):
				// waited out, as net/http does, never the end of the
				// host and of every user's calls.
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				if time.Since(outWarned) > time.Minute { // once a minute, as refusals
					outWarned = time.Now()
					s.log.Warn("cannot accept a call: out of descriptors; waiting until some are closed (logged once a minute)", "err", err)
				}
				time.Sleep(pause)
				continue
			}
			return err
		}
		pause = 0
		mu.Lock()
		conns[conn] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
			mu.Lock()
			delete(conns, conn)
			mu.Unlock()
		}()
	}
}

// serveConn answers one request on conn.
func (s *server) serveConn(ctx context.Context, conn *net.UnixConn) {
	// The request's first read and the reply's buffer come from a pool,
	// back once the connection and its reader are done with them: two
	// 64 KiB buffers a call were most of what a call allocated, and the
	// collections they caused a tenth of a call's CPU.
	first := getBuf()
	var rep *reply
	defer func() {
		conn.Close()
		if rep != nil && rep.gone != nil {
			<-rep.gone // the acknowledgement reader reads first too
		}
		putBuf(first)
		if rep != nil {
			putBuf(rep.buf)
		}
	}()
	// Room for a whole frame or more in the kernel, so streaming output
	// does not wait for the CLI at every write.
	_ = conn.SetWriteBuffer(4 << 20)
	caller, err := s.checkPeer(conn)
	if err != nil {
		s.log.Warn("refused a connection", "err", err)
		rep = newReply(conn)
		rep.result(errUnavailable(err))
		return
	}
	if s.system && !caller.Root() {
		if !s.holdCall(caller.UID) {
			rep = newReply(conn)
			rep.result(errUnavailable(fmt.Errorf("%s has %d calls open on this host already, the most it takes from one user; let some end first", caller.Name, maxCallsPerUser)))
			return
		}
		defer s.releaseCall(caller.UID)
	}
	ctx = host.WithCaller(ctx, caller)
	if _, err := conn.Write(s.hello); err != nil {
		return
	}
	// The request may come with the caller's stdout and stderr attached
	// (SCM_RIGHTS): then what the call prints is written to them directly,
	// saving every byte a trip through the CLI.
	oob := make([]byte, oobSpace)
	n, oobn, _, _, err := conn.ReadMsgUnix(first, oob)
	if err != nil {
		return
	}
	files := receiveFiles(oob[:oobn])
	for _, f := range files {
		defer f.Close()
	}
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(first[:n]), conn))
	rep = newReply(conn)
	// A request larger than the largest a CLI sends (a job's input is
	// bounded) is refused from its header, not read into memory first.
	if hdr, err := br.Peek(4); err == nil {
		if size := binary.BigEndian.Uint32(hdr); size > api.MaxRequest+1 {
			rep.result(badRequest("the request is %d bytes, more than the %d the host accepts; a job's input is at most %d bytes (64 MiB): give the job a path to read instead", size-1, api.MaxRequest, api.MaxInput))
			return
		}
	}
	kind, payload, err := api.ReadFrame(br, nil)
	if err != nil || kind != api.FrameRequest {
		return
	}
	var req api.Request
	if len(files) == 2 {
		rep.direct = map[byte]*os.File{api.FrameStdout: files[0], api.FrameStderr: files[1]}
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		rep.result(badRequest("bad request: %v", err))
		return
	}
	// The caller going away (Ctrl-C on receive --wait) cancels the call;
	// anything but an acknowledgement from it is taken as going away too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A caller that takes marks counts what it has itself: the host need
	// not wait for it to write each batch out.
	rep.acks = req.Acks && rep.direct == nil && !req.Marks
	rep.gone = make(chan struct{})
	rep.ackCh = make(chan struct{})
	go func() {
		defer close(rep.gone)
		defer cancel()
		for {
			kind, p, err := api.ReadFrame(br, nil)
			if err != nil || kind != api.FrameAck || len(p) != 8 || !req.Acks {
				return
			}
			rep.ack(binary.BigEndian.Uint64(p))
		}
	}()
	rep.result(s.handle(ctx, &req, rep))
}

// outOfDescriptors reports whether err is accept's "too many open files"
// (the process's or the system's), which passes once descriptors are
// closed.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// reply frames what a call prints. Writes gather in one buffer of whole
// frames, consecutive writes to one stream sharing a frame, and the buffer
// goes out in one write when it is full or flushed: printing many small
// records costs few frames and few syscalls, and stdout and stderr keep
// their order.
type reply struct {
	w      io.Writer
	direct map[byte]*os.File // if set, stdout and stderr are written here
	buf    []byte
	kind   byte // kind of the open frame, whose header starts at hdr
	hdr    int  // -1: no open frame
	err    error

	// With acks, sync waits until the caller says it has written out
	// every frame sent (api.FrameAck): a write to the socket succeeding
	// only means the kernel holds it, and a caller that quits then (a
	// frame it cannot read, Ctrl-C) never showed it.
	acks  bool
	sent  uint64        // bytes of frames written to w
	gone  chan struct{} // closed when the caller stops sending (no more acks)
	ackMu sync.Mutex
	acked uint64        // bytes of frames the caller has written out
	ackCh chan struct{} // closed and replaced at each ack

	// With marks (start --wait over frames: see records.Marker), each
	// job's last mark goes into the buffer, after the records it covers,
	// before any of the buffer is written, and every markEvery bytes
	// besides: whatever part of the output reaches the caller, the marks
	// with it cover all of it, but for what follows the last one when a
	// write larger than the socket holds is cut short by the host's death.
	marking  bool // marks are kept: the buffer is written only between records
	marks    []marked
	fresh    bool // a mark moved since marks last went in
	markedAt int  // len(buf) when they last went in
}

// marked is a job's last mark, and the last of its marks put in a reply.
type marked struct{ at, put api.Mark }

// markEvery bounds the output between marks in the buffer.
const markEvery = 32 << 10

// setMark records m, the job's newest mark, given between records: a full
// buffer is written out here, not in the middle of a record, where its
// mark could not go with it.
func (r *reply) setMark(m api.Mark) error {
	r.fresh = true
	found := false
	for i := range r.marks {
		if r.marks[i].at.Job == m.Job {
			r.marks[i].at, found = m, true
			break
		}
	}
	if !found {
		r.marks = append(r.marks, marked{at: m})
	}
	if len(r.buf) >= frameData {
		return r.flush()
	}
	return r.err
}

// putMarks puts the marks that moved into the buffer.
func (r *reply) putMarks() {
	if !r.fresh {
		return
	}
	r.closeFrame()
	for i := range r.marks {
		if m := &r.marks[i]; m.at != m.put {
			r.buf = api.AppendMarkFrame(r.buf, m.at)
			m.put = m.at
		}
	}
	r.fresh, r.markedAt = false, len(r.buf)
}

// ack records that the caller has written out n bytes of frames.
func (r *reply) ack(n uint64) {
	r.ackMu.Lock()
	if n > r.acked {
		r.acked = n
		close(r.ackCh)
		r.ackCh = make(chan struct{})
	}
	r.ackMu.Unlock()
}

// errCallerGone: the caller went away before it had written out what it
// was sent.
var errCallerGone = errors.New("the caller went away before it took all of the output")

// sync flushes, and with acks waits until the caller has written out all
// that was sent: what a receive counts as received when sync returns nil
// has reached the caller's stdout.
func (r *reply) sync() error {
	if err := r.flush(); err != nil || !r.acks {
		return err
	}
	for {
		r.ackMu.Lock()
		done, ch := r.acked >= r.sent, r.ackCh
		r.ackMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-r.gone:
			return errCallerGone
		}
	}
}

// frameData is how much a reply gathers before writing it out.
const frameData = 1 << 20

// directWrite is the size from which a piece of output for the caller's own
// file is written without being gathered first.
const directWrite = 32 << 10

func newReply(w io.Writer) *reply {
	return &reply{w: w, hdr: -1, buf: getBuf()[:0]}
}

// bufSize is the size of the pooled buffers: a request's first read, a
// reply's frames.
const bufSize = 64 << 10

var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() []byte { return (*bufs.Get().(*[]byte))[:bufSize] }

// putBuf returns b to the pool, unless a reply grew it past the size.
func putBuf(b []byte) {
	if cap(b) == bufSize {
		bufs.Put(&b)
	}
}

func (r *reply) write(kind byte, p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if f := r.direct[kind]; f != nil {
		return r.writeDirect(kind, f, p)
	}
	if kind != r.kind || r.hdr < 0 {
		r.closeFrame()
		r.kind, r.hdr = kind, len(r.buf)
		r.buf = append(r.buf, 0, 0, 0, 0, kind)
	}
	r.buf = append(r.buf, p...)
	if kind == api.FrameProgress {
		// One progress record a frame: the caller decodes each frame as
		// one JSON object.
		r.closeFrame()
	}
	if r.fresh && len(r.buf)-r.markedAt >= markEvery {
		r.putMarks()
	}
	if len(r.buf) >= frameData && !r.marking {
		r.flush()
	}
	return len(p), r.err
}

// writeDirect gathers output for the caller's own file f, in the same
// buffer frames use (the two are never mixed: a direct reply only frames
// its result). A large piece (a chunk of a fast job's text) goes out as it
// is, after what was gathered before it: copying it into the buffer would
// cost more than the write it saves.
func (r *reply) writeDirect(kind byte, f *os.File, p []byte) (int, error) {
	if kind != r.kind {
		r.flush()
		r.kind = kind
	}
	if len(p) >= directWrite {
		if r.flush() == nil {
			_, r.err = f.Write(p)
		}
		return len(p), r.err
	}
	r.buf = append(r.buf, p...)
	if len(r.buf) >= frameData {
		r.flush()
	}
	return len(p), r.err
}

// closeFrame fills in the open frame's length, or drops it if empty.
func (r *reply) closeFrame() {
	if r.hdr < 0 {
		return
	}
	n := len(r.buf) - r.hdr - 4 // kind byte and payload
	if n == 1 {
		r.buf = r.buf[:r.hdr]
	} else {
		binary.BigEndian.PutUint32(r.buf[r.hdr:], uint32(n))
	}
	r.hdr = -1
}

func (r *reply) flush() error {
	r.putMarks()
	r.closeFrame()
	if len(r.buf) > 0 && r.err == nil {
		if f := r.direct[r.kind]; f != nil {
			_, r.err = f.Write(r.buf)
		} else {
			var n int
			n, r.err = r.w.Write(r.buf)
			r.sent += uint64(n)
		}
	}
	r.buf, r.markedAt = r.buf[:0], 0
	return r.err
}

// result ends the reply with err's exit code and message. It goes out even
// when writing the caller's own stdout failed, so the caller learns why.
func (r *reply) result(err error) {
	if ferr := r.flush(); err == nil {
		err = ferr
	}
	res := api.Result{Code: exitCode(err)}
	if err != nil {
		res.Error = err.Error() // empty for exitCodeOnly: printed already
	}
	if errors.Is(err, syscall.EPIPE) && r.direct != nil {
		// The reader of the caller's stdout went away (| head): end as a
		// program killed by SIGPIPE does, quietly.
		res = api.Result{Code: api.ExitBrokenPipe}
	}
	b, _ := json.Marshal(res)
	// A failed write to the caller's own files says nothing about the
	// socket: the result still goes there.
	if r.direct != nil {
		r.buf, r.hdr, r.err, r.direct = r.buf[:0], -1, nil, nil
	}
	r.write(api.FrameResult, b)
	r.flush()
}

type replyWriter struct {
	r    *reply
	kind byte
}

func (w replyWriter) Write(p []byte) (int, error) { return w.r.write(w.kind, p) }

func (r *reply) writer(kind byte) io.Writer { return replyWriter{r, kind} }
