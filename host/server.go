package host

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
	"sync"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// Serve answers CLI calls on the host's unix socket until ctx ends. The
// socket lives in the host's home, which is 0700, and every connection's
// peer must be the user the host runs as.
func (h *Host) Serve(ctx context.Context) error {
	sock := api.SocketPath(h.opts.Home)
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
			h.log.Warn("calls still running at shutdown; leaving them")
		}
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
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
			return err
		}
		mu.Lock()
		conns[conn] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.serveConn(ctx, conn)
			mu.Lock()
			delete(conns, conn)
			mu.Unlock()
		}()
	}
}

// serveConn answers one request on conn.
func (h *Host) serveConn(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	// Room for a whole frame or more in the kernel, so streaming output
	// does not wait for the CLI at every write.
	_ = conn.SetWriteBuffer(4 << 20)
	if err := checkPeer(conn); err != nil {
		h.log.Warn("refused a connection", "err", err)
		rep := newReply(conn)
		rep.result(api.Errorf(api.ExitUnavailable, "%v", err))
		return
	}
	// The request may come with the caller's stdout and stderr attached
	// (SCM_RIGHTS): then what the call prints is written to them directly,
	// saving every byte a trip through the CLI.
	first := make([]byte, 64<<10)
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
	kind, payload, err := api.ReadFrame(br, nil)
	if err != nil || kind != api.FrameRequest {
		return
	}
	var req api.Request
	rep := newReply(conn)
	if len(files) == 2 {
		rep.direct = map[byte]*os.File{api.FrameStdout: files[0], api.FrameStderr: files[1]}
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		rep.result(api.Errorf(api.ExitUsage, "bad request: %v", err))
		return
	}
	// The caller going away (Ctrl-C on receive --wait) cancels the call.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = br.ReadByte()
		cancel()
	}()
	rep.result(h.handle(ctx, &req, rep))
}

// handle runs one request, writing what the user sees to rep.
func (h *Host) handle(ctx context.Context, req *api.Request, rep *reply) error {
	out := rep.writer(api.FrameStdout)
	jsonOut := req.Output == api.FormatJSON
	printJobs := func(jobs []*api.Job, single bool) error {
		if jsonOut {
			return WriteJobsJSON(out, jobs, single)
		}
		if len(jobs) == 0 {
			return nil
		}
		return WriteJobTable(out, jobs)
	}
	switch req.Op {
	case api.OpPing:
		return nil
	case api.OpStart:
		if req.Start == nil {
			return api.Errorf(api.ExitUsage, "start without a job")
		}
		j, err := h.Start(req.Start)
		if err != nil {
			return err
		}
		if !req.Wait {
			return printJobs([]*api.Job{j}, true)
		}
		return h.startWait(ctx, j, req, rep)
	case api.OpGet:
		jobs, err := h.Jobs(req.Jobs, req.Filter)
		if err != nil {
			return err
		}
		return printJobs(jobs, false)
	case api.OpReceive:
		if len(req.Jobs) == 0 {
			return api.Errorf(api.ExitUsage, "name the jobs to receive from")
		}
		return h.Receive(ctx, req.Jobs, ReceiveOptions{Keep: req.Keep, Wait: req.Wait, AutoRemove: req.AutoRemove}, h.sink(req, rep))
	case api.OpWait:
		if len(req.Jobs) == 0 {
			return api.Errorf(api.ExitUsage, "name the jobs to wait for")
		}
		jobs, err := h.Wait(ctx, req.Jobs, req.Any, time.Duration(req.Timeout*float64(time.Second)))
		if perr := printJobs(jobs, false); err == nil {
			err = perr
		}
		return err
	case api.OpStop:
		if len(req.Jobs) == 0 {
			return api.Errorf(api.ExitUsage, "name the jobs to stop")
		}
		jobs, err := h.Stop(ctx, req.Jobs)
		if err != nil || !req.PassThru {
			return err
		}
		return printJobs(jobs, false)
	case api.OpRemove:
		if len(req.Jobs) == 0 {
			return api.Errorf(api.ExitUsage, "name the jobs to remove")
		}
		return h.Remove(ctx, req.Jobs, req.Force)
	}
	return api.Errorf(api.ExitUsage, "unknown operation %q", req.Op)
}

// startWait is `start --wait`: the job's records as they come, then its
// removal; the exit code says whether it completed.
func (h *Host) startWait(ctx context.Context, j *api.Job, req *api.Request, rep *reply) error {
	sel := []string{fmt.Sprint(j.ID)}
	if err := h.Receive(ctx, sel, ReceiveOptions{Wait: true}, h.sink(req, rep)); err != nil {
		return err
	}
	jobs, err := h.Jobs(sel, nil)
	if err != nil || len(jobs) != 1 {
		return err
	}
	fin := jobs[0]
	if err := h.Remove(ctx, sel, false); err != nil {
		return err
	}
	if fin.State != api.Completed {
		return api.Errorf(api.ExitJobFailed, "job %d (%s) %s: %s", fin.ID, fin.Name, fin.State, fin.StateReason)
	}
	return nil
}

func (h *Host) sink(req *api.Request, rep *reply) Sink {
	if req.Output == api.FormatJSON {
		return &JSONSink{Out: rep.writer(api.FrameStdout), FlushFunc: rep.flush}
	}
	return &TextSink{Out: rep.writer(api.FrameStdout), Err: rep.writer(api.FrameStderr),
		Verbose: req.Verbose, Debug: req.Debug, FlushFunc: rep.flush}
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
}

// frameData is how much a reply gathers before writing it out.
const frameData = 1 << 20

func newReply(w io.Writer) *reply {
	return &reply{w: w, hdr: -1, buf: make([]byte, 0, 64<<10)}
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
	if len(r.buf) >= frameData {
		r.flush()
	}
	return len(p), r.err
}

// writeDirect gathers output for the caller's own file f, in the same
// buffer frames use (the two are never mixed: a direct reply only frames
// its result).
func (r *reply) writeDirect(kind byte, f *os.File, p []byte) (int, error) {
	if kind != r.kind {
		r.flush()
		r.kind = kind
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
	r.closeFrame()
	if len(r.buf) > 0 && r.err == nil {
		if f := r.direct[r.kind]; f != nil {
			_, r.err = f.Write(r.buf)
		} else {
			_, r.err = r.w.Write(r.buf)
		}
	}
	r.buf = r.buf[:0]
	return r.err
}

// result ends the reply with err's exit code and message. It goes out even
// when writing the caller's own stdout failed, so the caller learns why.
func (r *reply) result(err error) {
	if ferr := r.flush(); err == nil {
		err = ferr
	}
	res := api.Result{Code: api.CodeOf(err)}
	if err != nil {
		res.Error = err.Error()
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
