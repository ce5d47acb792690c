package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk"
	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/bgjob/bgjob/sdk/sdktest"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// The test binary doubles as the plugin, as in go-plugin's own tests: with
// envMode set, TestMain serves a runtime instead of running the tests.
const (
	envMode      = "BGJOB_SDK_TEST_PLUGIN"
	envJobTypes  = "BGJOB_SDK_TEST_JOBTYPES"
	envProtocols = "BGJOB_SDK_TEST_PROTOCOLS"

	pluginName    = "sdktest"
	pluginVersion = "1.2.3"
	testTimeout   = 30 * time.Second
	exitWithin    = 10 * time.Second

	// raceEnv shortens the race detector's one-second wait at exit in
	// plugin processes; a race it finds is still reported.
	raceEnv = "GORACE=atexit_sleep_ms=100"
)

// namedType is a job type that only has a name.
type namedType string

func (n namedType) TypeName() string { return string(n) }

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		var jobTypes []sdk.JobType
		if v := os.Getenv(envJobTypes); v != "" {
			for _, name := range strings.Split(v, ",") {
				jobTypes = append(jobTypes, namedType(name))
			}
		}
		sdk.Serve(&sdk.ServeConfig{
			Name:    pluginName,
			Version: pluginVersion,
			Runtime: sdk.RuntimeFunc(func(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
				return runMode(mode, ctx, job, out)
			}),
			Types:     jobTypes,
			Protocols: protocolsOf(os.Getenv(envProtocols)),
		})
		// Serve returns when the host shuts the plugin down; never fall
		// through to the tests.
		os.Exit(0)
	}
	code := m.Run()
	plugin.CleanupClients()
	os.Exit(code)
}

// protocolsOf parses "1,2".
func protocolsOf(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if v, err := strconv.Atoi(f); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// typedRecords are the records the "lines" runtime emits on purpose: one per
// stream, with every field set, and one echoing the job.
func typedRecords(job *sdk.Job) []*sdk.Record {
	return []*sdk.Record{
		sdk.NewOutput(fmt.Sprintf("job %d %s %s %s %q", job.Id, job.Name, job.Type, strings.Join(job.Args, ","), job.Input), ""),
		sdk.NewOutput("42", "System.Int32"),
		sdk.NewError("it broke", &sdk.ErrorDetail{Category: "InvalidOperation", Target: "thing", ErrorId: "E1", RecommendedAction: "fix it"}),
		sdk.NewProgress(&sdk.ProgressDetail{ActivityId: 1, ParentId: -1, Activity: "copy", Status: "halfway", CurrentOperation: "file 3", Percent: 50, SecondsRemaining: 7, Completed: true}),
		sdk.NewMessage(sdk.Verbose, "verbose message"),
		sdk.NewMessage(sdk.Debug, "debug message"),
		sdk.NewMessage(sdk.Warning, "warning message"),
		sdk.NewInformation("info", &sdk.InformationDetail{Tags: []string{"a", "b"}, Source: "src", TimeUnixNano: 123456789, User: "u", Computer: "c", Pid: 42}),
		{Stream: sdk.Output, Message: "with own time", TimeUnixNano: 987654321},
	}
}

// outputLines is the text the "lines" runtime writes to its Output writer:
// n numbered lines, padded with pad bytes, and a tail without newline.
func outputLines(n, pad int) []byte {
	var b bytes.Buffer
	padding := strings.Repeat("p", pad)
	for i := range n {
		fmt.Fprintf(&b, "line %d%s\n", i, padding)
	}
	b.WriteString("tail without newline")
	return b.Bytes()
}

func runMode(mode string, ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	switch mode {
	case "lines":
		for _, r := range typedRecords(job) {
			if err := out.Emit(r); err != nil {
				return sdk.Failure(1, err.Error())
			}
		}
		fmt.Fprint(out.Writer(sdk.Error), "stderr line\n")
		n, pad := 10, 0
		if len(job.Args) > 0 {
			n, _ = strconv.Atoi(job.Args[0])
		}
		if len(job.Args) > 1 {
			pad, _ = strconv.Atoi(job.Args[1])
		}
		// Write the text in pieces of varying sizes, so lines are split
		// across writes and writes hold many lines.
		text, w := outputLines(n, pad), out.Writer(sdk.Output)
		sizes := []int{1, 7, 100, 5000, 3, 70000}
		for i := 0; len(text) > 0; i++ {
			k := min(sizes[i%len(sizes)], len(text))
			if _, err := w.Write(text[:k]); err != nil {
				return sdk.Failure(1, err.Error())
			}
			text = text[k:]
		}
		if job.Name == "unspecified" {
			return sdk.Result{}
		}
		return sdk.Success()
	case "fail":
		_ = out.Emit(sdk.NewOutput("about to fail", ""))
		return sdk.Failure(3, "boom")
	case "panic":
		_ = out.Emit(sdk.NewOutput("about to panic", ""))
		panic("kaboom")
	case "sleep":
		_ = out.Emit(sdk.NewOutput("sleeping", ""))
		<-ctx.Done()
		grace, ok := sdk.StopGrace(ctx)
		return sdk.Result{State: sdk.Stopped, Reason: fmt.Sprintf("stop=%v grace=%v", ok, grace)}
	case "exit":
		_ = out.Emit(sdk.NewOutput("about to exit", ""))
		time.Sleep(100 * time.Millisecond) // let the record go out, usually
		os.Exit(9)
	}
	return sdk.Failure(2, "unknown test plugin mode "+mode)
}

// lockedBuffer collects the host-side go-plugin log, which includes the
// plugin's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testPlugin is a plugin process of the test binary, seen as the host sees
// it (a protocol.Conn, which asks for bulk transfer) and through the raw gRPC
// client (which can ask for the plain gRPC stream instead).
type testPlugin struct {
	c      *plugin.Client
	cl     protocol.Conn
	raw    pb.RuntimeClient
	tmpDir string // the plugin's TMPDIR
}

// transports are the two ways batches travel from plugin to host.
var transports = []string{"bulk", "grpc"}

// run starts or attaches to job over the given transport.
func (p *testPlugin) run(ctx context.Context, transport string, job *sdk.Job, after uint64) (protocol.Stream, error) {
	if transport == "grpc" {
		return p.raw.Run(ctx, &pb.RunRequest{Job: job, AfterSeq: after})
	}
	return p.cl.Run(ctx, job, after)
}

// startPlugin launches the test binary as a plugin in the given mode and
// dispenses its runtime.
func startPlugin(t *testing.T, mode string, env ...string) *testPlugin {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "plugin.log")
	tmpDir := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{envMode + "=" + mode, sdk.EnvLogFile + "=" + logPath, "TMPDIR=" + tmpDir, raceEnv}, env...)
	hostLog := &lockedBuffer{}
	c, err := protocol.NewClient(&protocol.ClientOptions{
		Cmd:    cmd,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "host", Output: hostLog, Level: hclog.Debug}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kill()
		logs := hostLog.String()
		if strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("the race detector fired in the plugin process")
		}
		if t.Failed() {
			pl, _ := os.ReadFile(logPath)
			t.Logf("host log:\n%s\nplugin log:\n%s", logs, pl)
		}
	})
	rpc, err := c.Client()
	if err != nil {
		t.Fatalf("starting the plugin: %v", err)
	}
	if v := c.NegotiatedVersion(); v != sdk.ProtocolVersion {
		t.Errorf("negotiated protocol %d, want %d", v, sdk.ProtocolVersion)
	}
	cl, err := protocol.Dispense(c)
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		t.Fatalf("go-plugin client is %T, not gRPC", rpc)
	}
	return &testPlugin{c: c, cl: cl, raw: pb.NewRuntimeClient(gc.Conn), tmpDir: tmpDir}
}

// line is one record as the host sees it, chunks split into their lines.
type line struct {
	seq uint64
	rec *sdk.Record // Message holds the line for chunk records
}

// receiver checks batches as a host receives them: consecutive batches,
// consecutive records, nothing after Done.
type receiver struct {
	t     *testing.T
	last  uint64 // last seq received
	lines []line
	done  *sdk.Batch
}

// take checks and unpacks one batch. Records at or below skip are
// duplicates a reattached stream may resend; they are dropped.
func (r *receiver) take(b *sdk.Batch, skip uint64) {
	t := r.t
	t.Helper()
	if r.done != nil {
		t.Fatalf("batch after Done: %v", b)
	}
	// The end may come with the last records (a job that ended before
	// they were sent) or alone.
	if len(b.Records) > 0 {
		r.takeRecords(b, skip)
	}
	if b.Done != nil {
		if b.LastSeq != r.last {
			t.Errorf("Done at seq %d, but records end at %d", b.LastSeq, r.last)
		}
		r.done = b
		return
	}
	if len(b.Records) == 0 {
		t.Fatalf("a batch with neither records nor the end: %v", b)
	}
}

func (r *receiver) takeRecords(b *sdk.Batch, skip uint64) {
	t := r.t
	t.Helper()
	if b.LastSeq <= skip {
		t.Fatalf("batch %d..%d resent although the host asked for what follows %d", b.FirstSeq, b.LastSeq, skip)
	}
	next := b.FirstSeq
	rd := bytes.NewReader(b.Records)
	for {
		rec := &sdk.Record{}
		if err := protodelim.UnmarshalFrom(rd, rec); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("batch %d..%d: %v", b.FirstSeq, b.LastSeq, err)
		}
		if rec.Seq != next {
			t.Fatalf("batch %d..%d: record %d, want %d", b.FirstSeq, b.LastSeq, rec.Seq, next)
		}
		if rec.TimeUnixNano == 0 {
			t.Errorf("record %d has no time", rec.Seq)
		}
		n := uint64(1)
		if rec.Chunk != nil {
			parts := sdktest.SplitChunk(rec.Chunk)
			if uint32(len(parts)) != rec.Count && !(rec.Count == 0 && len(parts) == 1) {
				t.Fatalf("record %d: Count %d for %d lines", rec.Seq, rec.Count, len(parts))
			}
			n = uint64(len(parts))
			for i, p := range parts {
				s := rec.Seq + uint64(i)
				if s > skip {
					r.lines = append(r.lines, line{s, &sdk.Record{Stream: rec.Stream, Message: p}})
				}
			}
		} else if rec.Seq > skip {
			r.lines = append(r.lines, line{rec.Seq, rec})
		}
		next += n
	}
	if next-1 != b.LastSeq {
		t.Fatalf("batch %d..%d: records end at %d", b.FirstSeq, b.LastSeq, next-1)
	}
	if b.FirstSeq > r.last+1 {
		t.Fatalf("gap: batch starts at %d after %d", b.FirstSeq, r.last)
	}
	if b.FirstSeq <= r.last && b.FirstSeq > skip {
		t.Fatalf("batch %d..%d repeats records after %d", b.FirstSeq, b.LastSeq, r.last)
	}
	r.last = max(r.last, b.LastSeq)
}

// drain receives until Done. (What Recv returns after Done is
// TestPluginRecvAfterDone's business.)
func (r *receiver) drain(s protocol.Stream, skip uint64) {
	r.t.Helper()
	for r.done == nil {
		b, err := s.Recv()
		if err != nil {
			r.t.Fatalf("Recv after seq %d: %v", r.last, err)
		}
		r.take(b, skip)
	}
}

// checkLines compares what the "lines" runtime sent with what it emitted.
func checkLines(t *testing.T, got []line, job *sdk.Job, n, pad int) {
	t.Helper()
	var want []*sdk.Record
	want = append(want, typedRecords(job)...)
	want = append(want, &sdk.Record{Stream: sdk.Error, Message: "stderr line"})
	for _, l := range strings.Split(string(outputLines(n, pad)), "\n") {
		want = append(want, &sdk.Record{Stream: sdk.Output, Message: l})
	}
	if len(got) != len(want) {
		t.Errorf("%d records, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g := proto.Clone(got[i].rec).(*sdk.Record)
		if got[i].seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, got[i].seq)
		}
		if want[i].TimeUnixNano == 0 {
			g.TimeUnixNano = 0
		}
		g.Seq = 0
		if !proto.Equal(g, want[i]) {
			t.Fatalf("record %d:\n got %v\nwant %v", i+1, g, want[i])
		}
	}
}

func TestPluginLines(t *testing.T) {
	t.Parallel()
	p := startPlugin(t, "lines")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	d, err := p.cl.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != pluginName || d.Version != pluginVersion || d.OS != runtime.GOOS || d.Arch != runtime.GOARCH || d.Protocol != 2 || len(d.JobTypes) != 0 {
		t.Errorf("Describe = %v", d)
	}
	if want := p.c.ReattachConfig().Pid; int(d.Pid) != want || want == os.Getpid() {
		t.Errorf("Describe pid %d, want the plugin's %d", d.Pid, want)
	}
	if len(d.InstanceID) != 16 {
		t.Errorf("instance id %q", d.InstanceID)
	}
	if d2, err := p.cl.Describe(ctx); err != nil || d2.InstanceID != d.InstanceID {
		t.Errorf("second Describe: %v, %v; want the same instance", d2, err)
	}

	if err := p.cl.Ack(ctx, protocol.RunID{Job: 99}, 1, false); err == nil {
		t.Error("Ack of an unknown job succeeded")
	}
	if err := p.cl.Stop(ctx, 99, time.Second); err == nil {
		t.Error("Stop of an unknown job succeeded")
	}
	if s, err := p.raw.Run(ctx, &pb.RunRequest{}); err == nil {
		// A server stream reports the handler's error on Recv.
		if _, err := s.Recv(); err == nil {
			t.Error("Run without a job succeeded")
		}
	}
	if _, err := p.cl.Run(ctx, nil, 0); err == nil {
		t.Error("Conn.Run without a job succeeded")
	}

	// Four jobs at once in one plugin process, two over each transport.
	t.Run("jobs", func(t *testing.T) {
		for i, transport := range transports {
			for _, j := range []struct {
				job   *sdk.Job
				lines int
			}{
				{&sdk.Job{Id: uint64(10*i + 7), Name: "lines-job", Type: sdk.BackgroundJob, Args: []string{"3000"}, Input: []byte("in\x00put"), Env: []string{"A=1"}, Workdir: "/tmp"}, 3000},
				{&sdk.Job{Id: uint64(10*i + 8), Name: "unspecified", Args: []string{"3"}}, 3}, // Result{} means Completed
			} {
				t.Run(fmt.Sprintf("%s/%d", transport, j.job.Id), func(t *testing.T) {
					t.Parallel()
					s, err := p.run(ctx, transport, j.job, 0)
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
					r := &receiver{t: t}
					r.drain(s, 0)
					checkLines(t, r.lines, j.job, j.lines, 0)
					if d := r.done.Done; d.State != sdk.Completed || d.ExitCode != 0 || d.Reason != "" {
						t.Errorf("Done %v, want Completed", d)
					}
					// Stopping a job that has ended is harmless.
					if err := p.cl.Stop(ctx, j.job.Id, 0); err != nil {
						t.Errorf("Stop of an ended job: %v", err)
					}
					if err := p.cl.Ack(ctx, protocol.RunID{Job: j.job.Id}, r.last, true); err != nil {
						t.Errorf("Ack: %v", err)
					}
				})
			}
		}
	})
}

// TestPluginRecvAfterDone checks the BatchStream contract documented on
// Client.Run (client.go:14-16): "The last batch carries Done; after it Recv
// returns io.EOF."
//
// Over the bulk socket it does not hold today: bulkStream.Recv closes the
// socket when it returns the Done batch (bulk.go:212-214), so the next Recv
// fails reading the closed socket and reports "the runtime's record stream
// broke: ... use of closed network connection" (bulk.go:220-225) instead
// of io.EOF. The gRPC stream it keeps open (bulkStream.grpc) is never read
// to its end either, so its resources live until the caller's ctx ends.
func TestPluginRecvAfterDone(t *testing.T) {
	t.Parallel()
	p := startPlugin(t, "fail")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			s, err := p.run(ctx, transport, &sdk.Job{Id: uint64(i + 1)}, 0)
			if err != nil {
				t.Fatal(err)
			}
			r := &receiver{t: t}
			r.drain(s, 0)
			for range 2 {
				if b, err := s.Recv(); err != io.EOF {
					t.Errorf("Recv after Done = %v, %v; want io.EOF", b, err)
				}
			}
		})
	}
}

// runToDone runs a job in a fresh plugin of the given mode over each
// transport and returns what each received.
func runToDone(t *testing.T, mode string) map[string]*receiver {
	t.Helper()
	p := startPlugin(t, mode)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out := map[string]*receiver{}
	for i, transport := range transports {
		s, err := p.run(ctx, transport, &sdk.Job{Id: uint64(i + 1)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := &receiver{t: t}
		r.drain(s, 0)
		out[transport] = r
	}
	return out
}

func TestPluginEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode     string
		state    sdk.State
		exitCode int32
		reason   []string
		first    string
	}{
		{"fail", sdk.Failed, 3, []string{"boom"}, "about to fail"},
		{"panic", sdk.Failed, -1, []string{"crashed", "kaboom", pluginName, pluginVersion}, "about to panic"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			for transport, r := range runToDone(t, tc.mode) {
				d := r.done.Done
				if d.State != tc.state || d.ExitCode != tc.exitCode {
					t.Errorf("%s: Done %v, want state %v exit code %d", transport, d, tc.state, tc.exitCode)
				}
				for _, s := range tc.reason {
					if !strings.Contains(d.Reason, s) {
						t.Errorf("%s: reason %q does not mention %q", transport, d.Reason, s)
					}
				}
				if len(r.lines) != 1 || r.lines[0].rec.Message != tc.first {
					t.Errorf("%s: records %v, want %q", transport, r.lines, tc.first)
				}
			}
		})
	}
}

func TestPluginStop(t *testing.T) {
	t.Parallel()
	p := startPlugin(t, "sleep")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			id := uint64(i + 1)
			s, err := p.run(ctx, transport, &sdk.Job{Id: id}, 0)
			if err != nil {
				t.Fatal(err)
			}
			r := &receiver{t: t}
			// The first record says the job runs; Stop needs the job to exist.
			for len(r.lines) == 0 {
				b, err := s.Recv()
				if err != nil {
					t.Fatal(err)
				}
				r.take(b, 0)
			}
			grace := time.Duration(i+3) * time.Second
			if err := p.cl.Stop(ctx, id, grace); err != nil {
				t.Fatal(err)
			}
			r.drain(s, 0)
			if d, want := r.done.Done, fmt.Sprintf("stop=true grace=%v", grace); d.State != sdk.Stopped || d.Reason != want {
				t.Errorf("Done %v, want Stopped with reason %q", d, want)
			}
		})
	}
}

// TestPluginExit: a plugin process that dies mid-job ends the stream with an
// error, never with a Done.
func TestPluginExit(t *testing.T) {
	t.Parallel()
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			p := startPlugin(t, "exit")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			s, err := p.run(ctx, transport, &sdk.Job{Id: 1}, 0)
			if err != nil {
				t.Fatal(err)
			}
			r := &receiver{t: t}
			for {
				b, err := s.Recv()
				if err != nil {
					if err == io.EOF {
						t.Errorf("the stream ended cleanly (io.EOF) without Done")
					}
					t.Logf("Recv: %v (after %d records)", err, len(r.lines))
					break
				}
				r.take(b, 0)
			}
			if r.done != nil {
				t.Errorf("got Done %v from a plugin that exited", r.done.Done)
			}
			if ctx.Err() != nil {
				t.Errorf("the stream ended by the test's timeout, not the plugin's exit")
			}
			waitExited(t, p.c)
		})
	}
}

func waitExited(t *testing.T, c *plugin.Client) {
	t.Helper()
	deadline := time.Now().Add(exitWithin)
	for !c.Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin process has not exited within %v", exitWithin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPluginReattach: a host goes away mid-stream without acking and comes
// back asking for what follows the last record it has. The records continue
// without a gap, and once the host acknowledges the end the plugin exits by
// itself.
func TestPluginReattach(t *testing.T) {
	t.Parallel()
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			p := startPlugin(t, "lines")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			// About 12 MiB of output: many batches, and close to the
			// spool's limit, which the first host never acknowledges.
			const n, pad = 100000, 110
			job := &sdk.Job{Id: 11, Args: []string{strconv.Itoa(n), strconv.Itoa(pad)}}

			ctx1, cancel1 := context.WithCancel(ctx)
			s1, err := p.run(ctx1, transport, job, 0)
			if err != nil {
				t.Fatal(err)
			}
			r := &receiver{t: t}
			for range 3 {
				b, err := s1.Recv()
				if err != nil {
					t.Fatal(err)
				}
				r.take(b, 0)
				if r.done != nil {
					break
				}
			}
			cancel1()
			for { // what the first stream still had in flight is lost with it
				if _, err := s1.Recv(); err != nil {
					break
				}
			}
			after := r.last
			t.Logf("first stream: %d records up to seq %d", len(r.lines), after)
			if r.done != nil {
				t.Fatalf("the job's end came within 3 batches; the test needs more output")
			}

			s2, err := p.run(ctx, transport, job, after)
			if err != nil {
				t.Fatal(err)
			}
			acked := uint64(0)
			for r.done == nil {
				b, err := s2.Recv()
				if err != nil {
					t.Fatalf("Recv after seq %d: %v", r.last, err)
				}
				r.take(b, after)
				if r.last-acked > 1<<16 {
					acked = r.last
					if err := p.cl.Ack(ctx, protocol.RunID{Job: job.Id}, acked, false); err != nil {
						t.Fatal(err)
					}
				}
			}
			checkLines(t, r.lines, job, n, pad)
			if d := r.done.Done; d.State != sdk.Completed {
				t.Errorf("Done %v", d)
			}
			if p.c.Exited() {
				t.Fatal("the plugin exited before the host acknowledged the end")
			}
			if err := p.cl.Ack(ctx, protocol.RunID{Job: job.Id}, r.last, true); err != nil {
				t.Fatal(err)
			}
			waitExited(t, p.c) // no Kill: the plugin ends itself

		})
	}
}

// runFive runs job 1 of the "lines" plugin with five lines and drains it;
// the context lasts the test.
func runFive(t *testing.T, p *testPlugin) (context.Context, *receiver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	s, err := p.cl.Run(ctx, &sdk.Job{Id: 1, Args: []string{"5"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t}
	r.drain(s, 0)
	return ctx, r
}

// TestPluginOrphaned: a plugin whose ended job nobody collects exits after
// its orphan timeout.
func TestPluginOrphaned(t *testing.T) {
	t.Parallel()
	p := startPlugin(t, "lines", sdk.EnvOrphanTimeout+"=500ms")
	ctx, r := runFive(t, p)
	// The records are acknowledged, the end is not.
	if err := p.cl.Ack(ctx, protocol.RunID{Job: 1}, r.last, false); err != nil {
		t.Fatal(err)
	}
	waitExited(t, p.c)
}

// TestPluginBulkSocketCleanedUp: a plugin started without
// PLUGIN_UNIX_SOCKET_DIR (as in these tests) makes a directory for its bulk
// socket in TMPDIR, and removes it, socket and all, when it exits.
func TestPluginBulkSocketCleanedUp(t *testing.T) {
	t.Parallel()
	p := startPlugin(t, "lines")
	ctx, r := runFive(t, p)
	if err := p.cl.Ack(ctx, protocol.RunID{Job: 1}, r.last, true); err != nil {
		t.Fatal(err)
	}
	waitExited(t, p.c)
	left, err := filepath.Glob(filepath.Join(p.tmpDir, "bgjob-bulk*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("the exited plugin left %v behind", left)
	}
}

func TestDescribeCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		jobTypes string
		kind     string
	}{
		{"", "runtime"},
		{"ScheduledJob,Other", "runtime"}, // a runtime that serves types besides
	} {
		cmd := exec.Command(os.Args[0], "describe")
		cmd.Env = []string{envMode + "=lines", envJobTypes + "=" + tc.jobTypes, raceEnv}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("describe: %v\n%s", err, stderr.Bytes())
		}
		var d map[string]any
		dec := json.NewDecoder(bytes.NewReader(out))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("describe printed %q: %v", out, err)
		}
		if dec.More() {
			t.Errorf("describe printed more than one JSON value: %q", out)
		}
		want := map[string]any{
			"name": pluginName, "version": pluginVersion,
			"os": runtime.GOOS, "arch": runtime.GOARCH,
			"protocol": float64(2), "protocols": []any{float64(2)}, "kind": tc.kind,
		}
		if tc.jobTypes != "" {
			want["jobTypes"] = []any{map[string]any{"name": "ScheduledJob"}, map[string]any{"name": "Other"}}
		}
		if fmt.Sprint(d) != fmt.Sprint(want) {
			t.Errorf("describe = %v\nwant %v", d, want)
		}
	}
}
