package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"
)

// fakeRunStream is the server side of a Run stream, in process.
type fakeRunStream struct {
	grpc.ServerStream
	ctx  context.Context
	send func(*Batch) error
}

func (f *fakeRunStream) Context() context.Context { return f.ctx }
func (f *fakeRunStream) Send(b *Batch) error      { return f.send(b) }

func testServer(rt RuntimeFunc) *server {
	return newServer(&ServeConfig{Runtime: rt}, describe("sdktest", "1.2.3", "runtime", nil, []int{ProtocolV1, ProtocolV2}), hclog.NewNullLogger())
}

// runToEnd runs job on srv and returns its batches up to Done.
func runToEnd(t *testing.T, srv *server, job *Job, after uint64) []*Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var got []*Batch
	err := srv.Run(&pb.RunRequest{Job: job, AfterSeq: after}, &fakeRunStream{ctx: ctx, send: func(b *Batch) error {
		got = append(got, b)
		return nil
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(got) == 0 || got[len(got)-1].Done == nil {
		t.Fatalf("Run ended without Done")
	}
	return splitEnd(got)
}

func TestServerRunOnce(t *testing.T) {
	var runs atomic.Int32
	srv := testServer(func(ctx context.Context, job *Job, out Emitter) Result {
		runs.Add(1)
		fmt.Fprintf(out.Writer(Output), "job %d\npartial", job.Id)
		return Result{} // no state: the SDK says Completed
	})
	job := &Job{Id: 5}
	first := runToEnd(t, srv, job, 0)
	// A host that comes back attaches to the same job: it is not run again.
	second := runToEnd(t, srv, job, 0)
	if n := runs.Load(); n != 1 {
		t.Errorf("the runtime ran %d times, want 1", n)
	}
	for _, got := range [][]*Batch{first, second} {
		var text string
		for _, b := range got[:len(got)-1] {
			for _, r := range checkBatch(t, b) {
				text += string(r.Chunk)
			}
		}
		if text != "job 5\npartial" {
			t.Errorf("text %q, want the line and the flushed partial", text)
		}
		d := got[len(got)-1].Done
		if d.State != Completed || d.ExitCode != 0 || d.Reason != "" {
			t.Errorf("Done %v, want Completed", d)
		}
	}
	// After the end is acknowledged, a late attach still gets the end.
	if _, err := srv.Ack(context.Background(), &pb.AckRequest{JobId: 5, Seq: 2, Done: true}); err != nil {
		t.Fatal(err)
	}
	if got := runToEnd(t, srv, job, 2); len(got) != 1 {
		t.Errorf("attach after the acknowledged end: %d batches, want the Done batch only", len(got))
	}
}

func TestServerPanic(t *testing.T) {
	srv := testServer(func(ctx context.Context, job *Job, out Emitter) Result {
		_ = out.Emit(NewOutput("before", ""))
		fmt.Fprint(out.Writer(Output), "unfinished")
		panic("kaboom")
	})
	got := runToEnd(t, srv, &Job{Id: 1}, 0)
	d := got[len(got)-1].Done
	if d.State != Failed || d.ExitCode != -1 {
		t.Errorf("Done %v, want Failed with exit code -1", d)
	}
	for _, s := range []string{"sdktest", "1.2.3", "crashed", "kaboom"} {
		if !strings.Contains(d.Reason, s) {
			t.Errorf("reason %q does not mention %q", d.Reason, s)
		}
	}
	// What the job wrote before the panic is kept, its unfinished line too.
	var n int
	for _, b := range got[:len(got)-1] {
		n += len(checkBatch(t, b))
	}
	if n != 2 {
		t.Errorf("%d records before the panic, want 2", n)
	}
}

func TestServerStop(t *testing.T) {
	started := make(chan struct{})
	srv := testServer(func(ctx context.Context, job *Job, out Emitter) Result {
		close(started)
		<-ctx.Done()
		grace, ok := StopGrace(ctx)
		return Result{State: Stopped, Reason: fmt.Sprintf("stop=%v grace=%v", ok, grace)}
	})
	res := make(chan []*Batch, 1)
	go func() { res <- runToEnd(t, srv, &Job{Id: 9}, 0) }()
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("the job did not start")
	}
	if _, err := srv.Stop(context.Background(), &pb.StopRequest{JobId: 9, GraceMs: 1500}); err != nil {
		t.Fatal(err)
	}
	got := within(t, res, "the stopped job's batches")
	if d := got[len(got)-1].Done; d.State != Stopped || d.Reason != "stop=true grace=1.5s" {
		t.Errorf("Done %v, want Stopped with grace 1.5s", d)
	}
}

func TestServerErrors(t *testing.T) {
	srv := testServer(func(context.Context, *Job, Emitter) Result { return Success() })
	ctx := context.Background()
	if err := srv.Run(&pb.RunRequest{}, &fakeRunStream{ctx: ctx}); err == nil {
		t.Error("Run without a job succeeded")
	}
	if _, err := srv.Ack(ctx, &pb.AckRequest{JobId: 1, Seq: 1}); err == nil {
		t.Error("Ack of an unknown job succeeded")
	}
	if _, err := srv.Stop(ctx, &pb.StopRequest{JobId: 1}); err == nil {
		t.Error("Stop of an unknown job succeeded")
	}
	d, err := srv.Describe(ctx, &pb.DescribeRequest{})
	if err != nil || d.Name != "sdktest" || d.Version != "1.2.3" || d.Protocol != ProtocolVersion || d.InstanceId == "" || d.Pid == 0 {
		t.Errorf("Describe = %v, %v", d, err)
	}
}

// runAcked runs job id on srv to its end and acknowledges all of it, as a
// host that has stored it does.
func runAcked(t *testing.T, srv *server, id uint64) {
	t.Helper()
	got := runToEnd(t, srv, &Job{Id: id}, 0)
	if _, err := srv.Ack(context.Background(), &pb.AckRequest{JobId: id, Seq: got[len(got)-1].LastSeq, Done: true}); err != nil {
		t.Fatal(err)
	}
}

// watchExits runs srv.watch and reports its exit.
func watchExits(srv *server, orphan time.Duration) <-chan int {
	c := make(chan int, 1)
	go srv.watch(orphan, func(code int) {
		select {
		case c <- code:
		default:
		}
	})
	return c
}

func expectExit(t *testing.T, c <-chan int) {
	t.Helper()
	select {
	case code := <-c:
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the plugin did not exit within %v", waitLimit)
	}
}

// expectNoExit checks, for a few of watch's ticks, that it does not exit.
// It cannot fail spuriously: a slow machine only looks less closely.
// (expectNoExitFor, checking a wait of watch's, can, if the machine stalls
// the test for longer than the margin its caller leaves: 3 s.)
func expectNoExit(t *testing.T, c <-chan int, why string) {
	t.Helper()
	expectNoExitFor(t, c, time.Second, why)
}

func expectNoExitFor(t *testing.T, c <-chan int, d time.Duration, why string) {
	t.Helper()
	select {
	case <-c:
		t.Fatalf("the plugin exited %s", why)
	case <-time.After(d):
	}
}

func TestServerWatch(t *testing.T) {
	printsX := func(_ context.Context, _ *Job, out Emitter) Result {
		_ = out.Emit(NewOutput("x", ""))
		return Success()
	}
	// A host killed after recording a process for a job, before sending
	// the job, comes back for it: the process waits abandonWait for that.
	t.Run("spare whose host went away", func(t *testing.T) {
		t.Parallel()
		srv := testServer(func(context.Context, *Job, Emitter) Result { return Success() })
		srv.abandonWait = 6 * time.Second // past watch's linger (2 s)
		cc := connCounter{srv}
		cc.HandleConn(context.Background(), &stats.ConnBegin{})
		exited := watchExits(srv, time.Hour)
		expectNoExit(t, exited, "while its host was connected")
		cc.HandleConn(context.Background(), &stats.ConnEnd{})
		expectNoExitFor(t, exited, 3*time.Second, "soon after its host went away: a host killed after giving it a job comes back for it")
		expectExit(t, exited)
	})
	t.Run("spare whose host came back after its idle timeout", func(t *testing.T) {
		t.Parallel()
		srv := testServer(func(context.Context, *Job, Emitter) Result { return Success() })
		srv.idleTimeout, srv.abandonWait = 500*time.Millisecond, time.Hour
		cc := connCounter{srv}
		cc.HandleConn(context.Background(), &stats.ConnBegin{})
		exited := watchExits(srv, time.Hour)
		cc.HandleConn(context.Background(), &stats.ConnEnd{})
		expectNoExit(t, exited, "while it waited for its host, past its idle timeout")
		cc.HandleConn(context.Background(), &stats.ConnBegin{}) // the next host reattaches
		expectNoExitFor(t, exited, 2*time.Second, "while the host that came back for it was connected")
	})
	t.Run("protocol 1, taken by a host that went away", func(t *testing.T) {
		t.Parallel()
		srv := testServer(func(context.Context, *Job, Emitter) Result { return Success() })
		srv.abandonWait = 6 * time.Second
		var gone atomic.Bool
		srv.launcherGone = gone.Load
		if _, err := (&netRPCPlugin{srv: srv}).Server(nil); err != nil { // a host takes it
			t.Fatal(err)
		}
		exited := watchExits(srv, time.Hour)
		expectNoExit(t, exited, "while the host that started it lived")
		gone.Store(true)
		expectNoExitFor(t, exited, 3*time.Second, "soon after its host went away: protocol 1 counts no connections, and a host that took it may come back with a job")
		expectExit(t, exited)
	})
	t.Run("reusable, between jobs, host went away", func(t *testing.T) {
		t.Parallel()
		srv := testServer(printsX)
		srv.desc.Reusable = true
		srv.abandonWait = 6 * time.Second
		cc := connCounter{srv}
		cc.HandleConn(context.Background(), &stats.ConnBegin{})
		runAcked(t, srv, 1)
		exited := watchExits(srv, time.Hour)
		expectNoExit(t, exited, "between jobs while its host was connected")
		cc.HandleConn(context.Background(), &stats.ConnEnd{})
		expectNoExitFor(t, exited, 3*time.Second, "soon after its host went away: it may have been given the next job")
		expectExit(t, exited)
	})
	t.Run("host gone before it connected", func(t *testing.T) {
		t.Parallel()
		srv := testServer(func(context.Context, *Job, Emitter) Result { return Success() })
		var gone atomic.Bool
		srv.launcherGone = gone.Load
		exited := watchExits(srv, time.Hour)
		expectNoExit(t, exited, "while the host that started it lived")
		gone.Store(true)
		expectExit(t, exited)
	})
	t.Run("done acknowledged", func(t *testing.T) {
		t.Parallel()
		srv := testServer(printsX)
		exited := watchExits(srv, time.Hour)
		runAcked(t, srv, 1)
		expectExit(t, exited)
	})
	t.Run("orphaned", func(t *testing.T) {
		t.Parallel()
		srv := testServer(printsX)
		runToEnd(t, srv, &Job{Id: 1}, 0) // never acknowledged
		expectExit(t, watchExits(srv, 100*time.Millisecond))
	})
	t.Run("job still running", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		srv := testServer(func(ctx context.Context, _ *Job, _ Emitter) Result {
			close(started)
			<-ctx.Done()
			return Result{State: Stopped}
		})
		ctx, cancel := context.WithCancel(context.Background())
		ended := make(chan error, 1)
		go func() {
			ended <- srv.Run(&pb.RunRequest{Job: &Job{Id: 1}}, &fakeRunStream{ctx: ctx, send: func(*Batch) error { return nil }})
		}()
		within(t, started, "the job's start")
		cancel() // the host goes away; the job runs on
		within(t, ended, "Run after its host went away")
		exited := watchExits(srv, time.Millisecond)
		expectNoExit(t, exited, "while its job was running")
		if _, err := srv.Stop(context.Background(), &pb.StopRequest{JobId: 1}); err != nil {
			t.Fatal(err)
		}
		expectExit(t, exited) // nobody collects the end: orphaned
	})
	t.Run("host attached", func(t *testing.T) {
		t.Parallel()
		srv := testServer(printsX)
		release := make(chan struct{})
		sending := make(chan struct{}, 1)
		go func() {
			_ = srv.Run(&pb.RunRequest{Job: &Job{Id: 1}}, &fakeRunStream{ctx: context.Background(), send: func(*Batch) error {
				select {
				case sending <- struct{}{}:
				default:
				}
				<-release // a slow host
				return nil
			}})
		}()
		within(t, sending, "the first send")
		srv.mu.Lock()
		j := srv.jobs[1]
		srv.mu.Unlock()
		for deadline := time.Now().Add(waitLimit); ; time.Sleep(time.Millisecond) {
			if ended, _ := j.spool.state(); ended {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the job did not end")
			}
		}
		exited := watchExits(srv, time.Millisecond)
		expectNoExit(t, exited, "while a host was attached")
		close(release)
		expectExit(t, exited)
	})
}

// TestServerBulk covers the bulk socket in process: the job runs while the
// host is still to connect, a connection with the wrong token is turned
// away, a stream waiting for its host ends with its ctx, and the right token
// gets the job's batches.
func TestServerBulk(t *testing.T) {
	// Not parallel: the socket goes in a directory of its own.
	t.Setenv("PLUGIN_UNIX_SOCKET_DIR", t.TempDir())
	ran, release := make(chan struct{}), make(chan struct{})
	srv := testServer(func(_ context.Context, _ *Job, out Emitter) Result {
		close(ran) // runs once: a second Run attaches to the same job
		// Held until the test has its offer: a job over within
		// smallWait is sent on the gRPC stream (TestServerSmallEnd).
		<-release
		for i := range 3 {
			_ = out.Emit(NewOutput(fmt.Sprint(i), ""))
		}
		return Failure(2, "x")
	})
	t.Cleanup(func() {
		if srv.bulk.ln != nil {
			srv.bulk.ln.Close()
		}
	})
	offers := make(chan *Batch, 1)
	run := func(ctx context.Context, after uint64) (<-chan error, *Batch) {
		t.Helper()
		errc := make(chan error, 1)
		go func() {
			errc <- srv.Run(&pb.RunRequest{Job: &Job{Id: 1}, AfterSeq: after, Bulk: true}, &fakeRunStream{ctx: ctx, send: func(b *Batch) error {
				offers <- b
				return nil
			}})
		}()
		select {
		case offer := <-offers:
			if offer.BulkAddress == "" || len(offer.BulkToken) != tokenLen || offer.Records != nil || offer.Done != nil {
				t.Fatalf("first message %v, want a bulk address and token only", offer)
			}
			return errc, offer
		case err := <-errc:
			t.Fatalf("Run: %v", err)
		case <-time.After(waitLimit):
			t.Fatal("no bulk offer")
		}
		return nil, nil
	}
	turnedAway := func(addr string, token []byte) {
		t.Helper()
		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(token); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(waitLimit))
		if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("connection with token %x: read %d bytes, %v; want it closed", token, n, err)
		}
	}

	ctx1, cancel1 := context.WithCancel(context.Background())
	errc, offer := run(ctx1, 0)
	// Nothing has connected yet, and the job runs: a trivial job is done
	// by the time the host is there.
	within(t, ran, "the job before the host connected")
	turnedAway(offer.BulkAddress, bytes.Repeat([]byte{'x'}, tokenLen))
	cancel1() // the host never connects and goes away
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run still waiting for its host after the ctx ended")
	}
	// The token of a stream that is gone is not accepted any more.
	turnedAway(offer.BulkAddress, offer.BulkToken)

	ctx2, cancel2 := context.WithTimeout(context.Background(), waitLimit)
	defer cancel2()
	errc, offer = run(ctx2, 1)
	close(release)
	bs := dialTestBulk(t, offer)
	var seqs []uint64
	for {
		b, err := bs.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if len(b.Records) > 0 {
			if b.LastSeq <= 1 {
				t.Errorf("batch %d..%d sent after 1", b.FirstSeq, b.LastSeq)
			}
			for _, r := range checkBatch(t, b) {
				if r.Seq > 1 { // a batch is resent whole: drop what the host has
					seqs = append(seqs, r.Seq)
				}
			}
		}
		if b.Done != nil {
			if b.Done.State != Failed || b.Done.ExitCode != 2 || b.LastSeq != 3 {
				t.Errorf("Done batch %v", b)
			}
			break
		}
	}
	if fmt.Sprint(seqs) != "[2 3]" {
		t.Errorf("after 1: seqs %v, want [2 3]", seqs)
	}
	if err := within(t, errc, "Run"); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// A job that ends within smallWait of its Run holding little is sent whole
// on the gRPC stream, and no bulk connection is offered or awaited; one that
// ends holding more than smallEnd is offered the bulk socket.
func TestServerSmallEnd(t *testing.T) {
	// Not parallel: the socket goes in a directory of its own.
	t.Setenv("PLUGIN_UNIX_SOCKET_DIR", t.TempDir())
	for _, tc := range []struct {
		name  string
		bytes int
		bulk  bool
	}{
		{"small", 10, false},
		{"big", smallEnd + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testServer(func(_ context.Context, _ *Job, out Emitter) Result {
				_ = out.Emit(NewOutput(strings.Repeat("x", tc.bytes), ""))
				return Success()
			})
			t.Cleanup(func() {
				if srv.bulk.ln != nil {
					srv.bulk.ln.Close()
				}
			})
			// The job ends before Run looks (it is already running),
			// however slow the machine.
			job := &Job{Id: 1}
			srv.mu.Lock()
			j := srv.start(job)
			srv.jobs[1] = j
			srv.mu.Unlock()
			j.begin()
			for ended, _ := j.spool.state(); !ended; ended, _ = j.spool.state() {
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			msgs := make(chan *Batch, 10)
			errc := make(chan error, 1)
			go func() {
				errc <- srv.Run(&pb.RunRequest{Job: job, Bulk: true}, &fakeRunStream{ctx: ctx, send: func(b *Batch) error {
					msgs <- proto.Clone(b).(*Batch)
					return nil
				}})
			}()
			first := within(t, msgs, "Run's first message")
			if tc.bulk {
				if first.BulkAddress == "" || first.Done != nil {
					t.Fatalf("%d bytes: first message %v, want a bulk offer only", tc.bytes, first)
				}
				if b, err := dialTestBulk(t, first).Recv(); err != nil || b.Done == nil {
					t.Errorf("bulk socket: %v, %v; want the record and the end", b, err)
				}
			}
			if err := within(t, errc, "Run"); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if n := len(msgs); n != 0 {
				t.Errorf("%d more messages on the gRPC stream, want none", n)
			}
			if tc.bulk {
				return
			}
			if first.BulkAddress != "" || first.Done == nil || first.LastSeq != 1 || len(checkBatch(t, first)) != 1 {
				t.Errorf("%d bytes: first message %v, want the record and the end", tc.bytes, first)
			}
			srv.bulk.mu.Lock()
			defer srv.bulk.mu.Unlock()
			if len(srv.bulk.pending) != 0 {
				t.Errorf("%d bulk connections awaited, want none", len(srv.bulk.pending))
			}
		})
	}
}

// testBulk reads the bulk socket's framing (uvarint length, Batch header,
// uvarint length, records) as a host would; the host's own reader lives with
// its protocol code.
type testBulk struct {
	t *testing.T
	r *bufio.Reader
}

func dialTestBulk(t *testing.T, offer *Batch) *testBulk {
	t.Helper()
	c, err := net.Dial("unix", offer.BulkAddress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(offer.BulkToken); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	return &testBulk{t: t, r: bufio.NewReader(c)}
}

func (b *testBulk) block() ([]byte, error) {
	n, err := binary.ReadUvarint(b.r)
	if err != nil {
		return nil, err
	}
	p := make([]byte, n)
	_, err = io.ReadFull(b.r, p)
	return p, err
}

func (b *testBulk) Recv() (*Batch, error) {
	hdr, err := b.block()
	if err != nil {
		return nil, err
	}
	batch := new(Batch)
	if err := proto.Unmarshal(hdr, batch); err != nil {
		return nil, err
	}
	if batch.Records, err = b.block(); err != nil {
		return nil, err
	}
	return batch, nil
}

// A job that runs before its host has connected to the bulk socket and
// syncs (as the shell runtime does before each command, which might take
// the process down) waits for the host to have its records, as it would
// with the host there: Sync does not return while the host is on its way.
func TestServerBulkSyncWaitsForHost(t *testing.T) {
	// Not parallel: the socket goes in a directory of its own.
	t.Setenv("PLUGIN_UNIX_SOCKET_DIR", t.TempDir())
	synced := make(chan uint64, 1)
	srv := testServer(func(_ context.Context, _ *Job, out Emitter) Result {
		_ = out.Emit(NewOutput("before", ""))
		// Sync's own bound (100 ms) with a longer one, so that a slow
		// machine does not make it expire before the test connects.
		sp := out.(*emitter).spool
		sp.sync(waitLimit)
		sp.mu.Lock()
		synced <- sp.sent
		sp.mu.Unlock()
		return Success()
	})
	t.Cleanup(func() {
		if srv.bulk.ln != nil {
			srv.bulk.ln.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	offers := make(chan *Batch, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- srv.Run(&pb.RunRequest{Job: &Job{Id: 1}, Bulk: true}, &fakeRunStream{ctx: ctx, send: func(b *Batch) error {
			offers <- b
			return nil
		}})
	}()
	offer := within(t, offers, "the bulk offer")
	time.Sleep(20 * time.Millisecond) // the job is in its Sync by now
	select {
	case sent := <-synced:
		t.Fatalf("Sync returned (record %d sent) before the host connected", sent)
	default:
	}
	bs := dialTestBulk(t, offer)
	if sent := within(t, synced, "the job's Sync"); sent < 1 {
		t.Errorf("Sync returned with %d records sent, want the record written to the host first", sent)
	}
	for {
		b, err := bs.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if b.Done != nil {
			break
		}
	}
	if err := within(t, errc, "Run"); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// The job's end, and the acknowledgement of it, answer whether the
// process takes another job, as Describe would, so that the host need not
// ask: yes for a reusable runtime, no once a job's leftovers retired the
// process (before this job, or by this job's own), no for a runtime that
// is not reusable. Other acknowledgements say nothing.
func TestServerEndSaysReuse(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		reusable, retired, retire bool
		want                      pb.Reuse
	}{
		{"reusable", true, false, false, pb.Reuse_REUSE_YES},
		{"retired by earlier leftovers", true, true, false, pb.Reuse_REUSE_NO},
		{"retired by this job's leftovers", true, false, true, pb.Reuse_REUSE_NO},
		{"not reusable", false, false, false, pb.Reuse_REUSE_NO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *server
			srv = testServer(func(ctx context.Context, job *Job, out Emitter) Result {
				fmt.Fprintln(out.Writer(Output), "hi")
				if tc.retire {
					srv.retired.Store(true) // as leftovers that could not be ended do
				}
				return Success()
			})
			srv.desc.Reusable = tc.reusable
			srv.retired.Store(tc.retired)
			got := runToEnd(t, srv, &Job{Id: 1}, 0)
			if d := got[len(got)-1].GetDone(); d.GetReuse() != tc.want {
				t.Errorf("the end says reuse %v, want %v", d.GetReuse(), tc.want)
			}
			ctx := context.Background()
			r, err := srv.Ack(ctx, &pb.AckRequest{JobId: 1, Seq: 1})
			if err != nil || r.GetReuse() != pb.Reuse_REUSE_UNSPECIFIED {
				t.Errorf("a record's acknowledgement answered %v, %v; want nothing", r.GetReuse(), err)
			}
			r, err = srv.Ack(ctx, &pb.AckRequest{JobId: 1, Seq: 2, Done: true})
			if err != nil || r.GetReuse() != tc.want {
				t.Errorf("the end's acknowledgement answered %v, %v; want %v", r.GetReuse(), err, tc.want)
			}
			d, _ := srv.Describe(ctx, &pb.DescribeRequest{})
			if d.Reusable != (tc.want == pb.Reuse_REUSE_YES) {
				t.Errorf("Describe says reusable %v, the end's acknowledgement %v", d.Reusable, tc.want)
			}
		})
	}
}

// A Run request may carry acknowledgements (Describe says the process
// takes them): each is taken as an Ack call would be, before the job
// starts, and one for a job the process no longer has is ignored.
func TestServerRunTakesAcks(t *testing.T) {
	srv := testServer(func(ctx context.Context, job *Job, out Emitter) Result {
		fmt.Fprintln(out.Writer(Output), "hi")
		return Success()
	})
	srv.desc.Reusable = true
	ctx := context.Background()
	if d, _ := srv.Describe(ctx, &pb.DescribeRequest{}); !d.AcksOnRun {
		t.Fatal("Describe does not say the process takes acknowledgements on Run")
	}
	got := runToEnd(t, srv, &Job{Id: 1}, 0)
	seq := got[len(got)-1].LastSeq
	acks := []*pb.AckRequest{{JobId: 1, Seq: seq, Done: true}, {JobId: 99, Seq: 3, Done: true}}
	err := srv.Run(&pb.RunRequest{Job: &Job{Id: 2}, Acks: acks}, &fakeRunStream{ctx: ctx, send: func(*Batch) error { return nil }})
	if err != nil {
		t.Fatalf("Run carrying acknowledgements (one of a job unknown here): %v", err)
	}
	// The acknowledged end was taken: the reused process forgot job 1.
	if _, err := srv.Ack(ctx, &pb.AckRequest{JobId: 1, Seq: seq, Done: true}); err == nil {
		t.Error("job 1 is still kept after its end was acknowledged on the next Run")
	}
	if _, err := srv.Ack(ctx, &pb.AckRequest{JobId: 2, Seq: 1}); err != nil {
		t.Errorf("job 2, not acknowledged, is gone: %v", err)
	}
}

// A Run of a job the process holds ended, but of a later attempt (the
// host retries it) or another instance (a restart), runs it anew: the
// end held, whose acknowledgement may still be on its way, belongs to the
// run before. A Run of the same attempt and instance attaches, as a host
// that comes back does.
func TestServerNewRunOfAnEndedJob(t *testing.T) {
	var runs atomic.Int32
	srv := testServer(func(ctx context.Context, job *Job, out Emitter) Result {
		n := runs.Add(1)
		fmt.Fprintf(out.Writer(Output), "run %d attempt %d\n", n, job.Attempt)
		return Failure(1, "exit status 1")
	})
	srv.desc.Reusable = true
	text := func(got []*Batch) string {
		var s string
		for _, b := range got[:len(got)-1] {
			for _, r := range checkBatch(t, b) {
				s += string(r.Chunk)
			}
		}
		return s
	}
	for _, step := range []struct {
		name     string
		job      *Job
		wantRuns int32
		want     string
	}{
		{"first attempt", &Job{Id: 1, InstanceId: "a", Attempt: 1}, 1, "run 1 attempt 1\n"},
		{"the same attempt again: attached", &Job{Id: 1, InstanceId: "a", Attempt: 1}, 1, "run 1 attempt 1\n"},
		{"the next attempt", &Job{Id: 1, InstanceId: "a", Attempt: 2}, 2, "run 2 attempt 2\n"},
		{"a restart: another instance", &Job{Id: 1, InstanceId: "b", Attempt: 1}, 3, "run 3 attempt 1\n"},
		{"a host from before attempts: attached", &Job{Id: 1, InstanceId: "b"}, 3, "run 3 attempt 1\n"},
	} {
		got := runToEnd(t, srv, step.job, 0)
		if n := runs.Load(); n != step.wantRuns || text(got) != step.want {
			t.Errorf("%s: %d runs, output %q; want %d, %q", step.name, n, text(got), step.wantRuns, step.want)
		}
	}
	// An acknowledgement of a run before the one held (still on its way
	// when the job ran again) is not for this one: the held run keeps its
	// end, and a host that comes back for it attaches.
	ctx := context.Background()
	for _, stale := range []*pb.AckRequest{
		{JobId: 1, Seq: 1, Done: true, InstanceId: "a", Attempt: 2},
		{JobId: 1, Seq: 1, Done: true, InstanceId: "b", Attempt: 7},
	} {
		if _, err := srv.Ack(ctx, stale); err != nil {
			t.Fatal(err)
		}
	}
	if got := runToEnd(t, srv, &Job{Id: 1, InstanceId: "b", Attempt: 1}, 0); runs.Load() != 3 || text(got) != "run 3 attempt 1\n" {
		t.Errorf("after acknowledgements of other runs, the held run: %d runs, output %q; want it attached", runs.Load(), text(got))
	}
	// Its own acknowledgement is taken: the reused process forgets it.
	if _, err := srv.Ack(ctx, &pb.AckRequest{JobId: 1, Seq: 1, Done: true, InstanceId: "b", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Ack(ctx, &pb.AckRequest{JobId: 1, Seq: 1}); err == nil {
		t.Error("the run is still held after its own end was acknowledged")
	}
}
