package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
	v1 "github.com/bgjob/bgjob/sdk/proto/runtimev1"
	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protodelim"
)

// Received is what a host received from a job: its records, numbered as the
// protocol numbered them, and how the job ended.
type Received struct {
	Records []*sdk.Record
	Result  sdk.Result
}

// Stream returns the texts of one stream's records, a chunk of text split
// into its lines.
func (r *Received) Stream(s sdk.Stream) []string {
	var out []string
	for _, rec := range r.Records {
		if rec.Stream != s {
			continue
		}
		if rec.Chunk != nil {
			out = append(out, SplitChunk(rec.Chunk)...)
		} else {
			out = append(out, rec.Message)
		}
	}
	return out
}

// Protocol runs job in the plugin cfg describes through the SDK's own server
// for protocol version (sdk.ProtocolV1 or sdk.ProtocolV2), in process, and
// returns what a host would receive: the same numbering, batching and
// acknowledgement as a real plugin, without a plugin process or
// go-plugin's handshake. Protocol 2 is served on an in-memory gRPC
// connection, protocol 1 through go-plugin's net/rpc server on a loopback
// connection; neither logs anything.
//
// As the SDK does in a plugin's process, the job runs in its Workdir (see
// sdk.Job): Protocol enters it, with t.Chdir, for the job and goes back
// when it returns. So a test that gives a Workdir cannot be parallel (the
// working directory belongs to the whole test process), and one that
// cannot enter it fails.
func Protocol(t testing.TB, version int, cfg *sdk.ServeConfig, job *sdk.Job) *Received {
	t.Helper()
	return protocol(t, version, cfg, job, nil)
}

// ProtocolStop runs job as Protocol does, and stops it as `bgjob stop`
// does (the job's context cancelled by a stop request that gives its
// processes grace to end) as soon as the job has emitted its first record,
// so a test sees how the job ends when it is stopped mid-run. The job must
// emit a record before it waits for the stop; Received.Result is then
// Stopped whatever Run returned (see sdk.Runtime).
func ProtocolStop(t testing.TB, version int, cfg *sdk.ServeConfig, job *sdk.Job, grace time.Duration) *Received {
	t.Helper()
	return protocol(t, version, cfg, job, &grace)
}

// Send is one input to a running job, as `bgjob send` makes it of its
// arguments: data to write to the job's standard input, and whether its
// input then ends.
type Send struct {
	Data []byte
	EOF  bool
}

// ProtocolSend runs job as Protocol does over protocol 2 and, while it
// runs, sends it each of sends, in order, as the host does for `bgjob
// send` (the job should have StdinOpen set, as `bgjob start --stdin-open`
// sets it). It returns what the host would receive and each send's error
// (nil if the job's runtime took it), worded as the user would see it.
// The job's end is acknowledged only after every send, so a send to a job
// that has ended meets it still held by the runtime.
func ProtocolSend(t testing.TB, cfg *sdk.ServeConfig, job *sdk.Job, sends ...Send) (*Received, []error) {
	t.Helper()
	errs := make([]error, len(sends))
	if sends == nil {
		sends = []Send{}
	}
	return protocolIO(t, sdk.ProtocolV2, cfg, job, nil, sends, errs), errs
}

func protocol(t testing.TB, version int, cfg *sdk.ServeConfig, job *sdk.Job, stop *time.Duration) *Received {
	t.Helper()
	return protocolIO(t, version, cfg, job, stop, nil, nil)
}

func protocolIO(t testing.TB, version int, cfg *sdk.ServeConfig, job *sdk.Job, stop *time.Duration, sends []Send, errs []error) *Received {
	t.Helper()
	set := pluginSet(t, cfg, version)
	if job.Workdir != "" {
		// The plugin's process enters the job's directory before Run
		// (sdk.Job's Workdir); in process, the test does it for the
		// server, which leaves a process it does not own alone.
		back, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		t.Chdir(job.Workdir)
		defer t.Chdir(back)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		got *Received
		err error
	)
	switch version {
	case sdk.ProtocolV2:
		c, closeConn := grpcConn(t, set)
		defer closeConn()
		got, err = runV2(ctx, c, job, stop, sends, errs)
	case sdk.ProtocolV1:
		cc, sc := plugin.TestConn(t)
		server := &plugin.RPCServer{Plugins: set, Stdout: new(bytes.Buffer), Stderr: new(bytes.Buffer)}
		go server.ServeConn(sc)
		client, err2 := plugin.NewRPCClient(cc, plugin.PluginSet{sdk.PluginName: rawRPC{}})
		if err2 != nil {
			t.Fatal(err2)
		}
		defer client.Close()
		raw, err2 := client.Dispense(sdk.PluginName)
		if err2 != nil {
			t.Fatal(err2)
		}
		got, err = runV1(ctx, raw.(*rpc.Client), job, stop)
	default:
		t.Fatalf("no protocol %d", version)
	}
	if err != nil {
		t.Fatalf("protocol %d: %v", version, err)
	}
	return got
}

// grpcConn serves set's protocol-2 service on an in-memory connection and
// dials it as a host does, with the protocol's message size limits. It
// bypasses go-plugin's own gRPC test server, which logs every connection's
// end to stderr at debug level.
func grpcConn(t testing.TB, set plugin.PluginSet) (pb.RuntimeClient, func()) {
	t.Helper()
	p, ok := set[sdk.PluginName].(plugin.GRPCPlugin)
	if !ok {
		t.Fatalf("the plugin set of protocol 2 has no gRPC plugin %q", sdk.PluginName)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(sdk.MaxMessageSize), grpc.MaxSendMsgSize(sdk.MaxMessageSize))
	if err := p.GRPCServer(nil, srv); err != nil {
		t.Fatal(err)
	}
	l := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(l) }()
	conn, err := grpc.NewClient("passthrough:///sdktest",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageSize), grpc.MaxCallSendMsgSize(sdk.MaxMessageSize)))
	if err != nil {
		srv.Stop()
		t.Fatal(err)
	}
	return pb.NewRuntimeClient(conn), func() {
		_ = conn.Close()
		srv.Stop()
	}
}

// pluginSet is what the plugin cfg describes serves for protocol version.
func pluginSet(t testing.TB, cfg *sdk.ServeConfig, version int) plugin.PluginSet {
	t.Helper()
	sets, err := sdk.PluginSets(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, ok := sets[version]
	if !ok {
		t.Fatalf("the plugin does not serve protocol %d (ServeConfig.Protocols %v)", version, cfg.Protocols)
	}
	return set
}

// Resolve asks the plugin cfg describes for a definition of a custom job
// type, through the SDK's protocol-2 server in process, as the host does
// for `bgjob start --definition-name`. The error is the one the host would
// show the user.
func Resolve(t testing.TB, cfg *sdk.ServeConfig, req *sdk.ResolveRequest) (*sdk.Definition, error) {
	t.Helper()
	c, closeConn := grpcConn(t, pluginSet(t, cfg, sdk.ProtocolV2))
	defer closeConn()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	def, err := c.Resolve(ctx, req)
	if err != nil {
		return nil, errors.New(status.Convert(err).Message())
	}
	return def, nil
}

// Definitions lists a custom job type's definitions in dir as the host's
// scheduler does, with the problems the type reported.
func Definitions(t testing.TB, cfg *sdk.ServeConfig, typ, dir string) ([]*sdk.Definition, []string) {
	t.Helper()
	c, closeConn := grpcConn(t, pluginSet(t, cfg, sdk.ProtocolV2))
	defer closeConn()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.Definitions(ctx, &pb.DefinitionsRequest{Type: typ, Path: dir})
	if err != nil {
		t.Fatalf("Definitions(%s, %s): %v", typ, dir, status.Convert(err).Message())
	}
	return res.Definitions, res.Problems
}

// runV2 runs job over protocol 2 as a host does: it acknowledges each
// batch, and the job's end. With stop set, it stops the job once a batch
// has brought records.
func runV2(ctx context.Context, c pb.RuntimeClient, job *sdk.Job, stop *time.Duration, sends []Send, errs []error) (*Received, error) {
	st, err := c.Run(ctx, &pb.RunRequest{Job: sdk.EncodeJob(job)})
	if err != nil {
		return nil, err
	}
	sent := make(chan struct{})
	if sends == nil {
		close(sent)
	} else {
		go func() {
			defer close(sent)
			for i, s := range sends {
				errs[i] = input(ctx, c, job.Id, s)
			}
		}()
	}
	got := &Received{}
	var last uint64
	for {
		b, err := st.Recv()
		if err != nil {
			return nil, err
		}
		if err := decode(b.Records, got); err != nil {
			return nil, err
		}
		if b.LastSeq > last {
			last = b.LastSeq
			if _, err := c.Ack(ctx, &pb.AckRequest{JobId: job.Id, Seq: last}); err != nil {
				return nil, err
			}
		}
		if d := b.Done; d != nil {
			got.Result = sdk.Result{State: d.State, Reason: d.Reason, ExitCode: int(d.ExitCode)}
			<-sent
			_, err := c.Ack(ctx, &pb.AckRequest{JobId: job.Id, Seq: last, Done: true})
			return got, err
		}
		if stop != nil && last > 0 {
			if _, err := c.Stop(ctx, &pb.StopRequest{JobId: job.Id, GraceMs: stop.Milliseconds()}); err != nil {
				return nil, err
			}
			stop = nil
		}
	}
}

// input makes one send, as the host does: to a job the runtime has taken
// (the Run request above may still be on its way to the plugin, which
// knows no job of that id until it arrives).
func input(ctx context.Context, c pb.RuntimeClient, id uint64, s Send) error {
	for {
		_, err := c.Input(ctx, &pb.InputRequest{JobId: id, Data: s.Data, Eof: s.EOF})
		if status.Code(err) != codes.NotFound || ctx.Err() != nil {
			if err != nil {
				return errors.New(status.Convert(err).Message())
			}
			return nil
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
		}
	}
}

func decode(b []byte, got *Received) error {
	r := bytes.NewReader(b)
	for {
		rec := &sdk.Record{}
		if err := protodelim.UnmarshalFrom(r, rec); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		got.Records = append(got.Records, rec)
	}
}

// runV1 is runV2 over protocol 1.
func runV1(ctx context.Context, c *rpc.Client, job *sdk.Job, stop *time.Duration) (*Received, error) {
	j := v1.Job{ID: job.Id, InstanceID: job.InstanceId, Name: job.Name, Type: job.Type, Script: job.Script,
		Init: job.Init, Args: job.Args, Input: job.Input, Workdir: job.Workdir, Env: job.Env, Command: job.Command,
		Umask: job.Umask, MergeError: job.MergeError}
	if err := c.Call(v1.MethodStart, j, &v1.Empty{}); err != nil {
		return nil, err
	}
	got := &Received{}
	var after uint64
	for ctx.Err() == nil {
		var reply v1.NextReply
		if err := c.Call(v1.MethodNext, v1.NextArgs{JobID: job.Id, AfterSeq: after, WaitMillis: 200}, &reply); err != nil {
			return nil, err
		}
		for _, r := range reply.Records {
			got.Records = append(got.Records, &sdk.Record{Seq: r.Seq, TimeUnixNano: r.TimeUnixNano, Stream: streamOf(r.Stream), Message: r.Text})
		}
		after = max(after, reply.LastSeq)
		if reply.Done {
			got.Result = sdk.Result{State: []sdk.State{sdk.Completed, sdk.Completed, sdk.Failed, sdk.Stopped}[reply.State], Reason: reply.Reason, ExitCode: reply.ExitCode}
			return got, c.Call(v1.MethodNext, v1.NextArgs{JobID: job.Id, AfterSeq: after, AckDone: true}, &v1.NextReply{})
		}
		if stop != nil && after > 0 {
			if err := c.Call(v1.MethodStop, v1.StopArgs{JobID: job.Id, GraceMillis: stop.Milliseconds()}, &v1.Empty{}); err != nil {
				return nil, err
			}
			stop = nil
		}
	}
	return nil, fmt.Errorf("the job did not end: %w", ctx.Err())
}

func streamOf(s int) sdk.Stream {
	switch s {
	case v1.Error:
		return sdk.Error
	case v1.Warning:
		return sdk.Warning
	case v1.Verbose:
		return sdk.Verbose
	}
	return sdk.Output
}

// rawRPC dispenses the net/rpc client itself.
type rawRPC struct{}

func (rawRPC) Server(*plugin.MuxBroker) (interface{}, error) { return nil, nil }
func (rawRPC) Client(_ *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return c, nil
}
