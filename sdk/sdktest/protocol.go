package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
	v1 "github.com/bgjob/bgjob/sdk/proto/runtimev1"
	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/status"
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
// for protocol version (sdk.ProtocolV1 or sdk.ProtocolV2), over go-plugin's
// in-process connection, and returns what a host would receive: the same
// numbering, batching and acknowledgement as a real plugin, without a
// process. The job's working directory is not entered (see
// sdk.PluginSets); give it paths, not a Workdir, in such tests.
func Protocol(t testing.TB, version int, cfg *sdk.ServeConfig, job *sdk.Job) *Received {
	t.Helper()
	set := pluginSet(t, cfg, version)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		got *Received
		err error
	)
	switch version {
	case sdk.ProtocolV2:
		client, _ := plugin.TestPluginGRPCConn(t, false, set)
		defer client.Close()
		got, err = runV2(ctx, pb.NewRuntimeClient(client.Conn), job)
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
		got, err = runV1(ctx, raw.(*rpc.Client), job)
	default:
		t.Fatalf("no protocol %d", version)
	}
	if err != nil {
		t.Fatalf("protocol %d: %v", version, err)
	}
	return got
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
// type, through the SDK's protocol-2 server over go-plugin's in-process
// connection, as the host does for `bgjob start --definition-name`. The
// error is the one the host would show the user.
func Resolve(t testing.TB, cfg *sdk.ServeConfig, req *sdk.ResolveRequest) (*sdk.Definition, error) {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, pluginSet(t, cfg, sdk.ProtocolV2))
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	def, err := pb.NewRuntimeClient(client.Conn).Resolve(ctx, req)
	if err != nil {
		return nil, errors.New(status.Convert(err).Message())
	}
	return def, nil
}

// Definitions lists a custom job type's definitions in dir as the host's
// scheduler does, with the problems the type reported.
func Definitions(t testing.TB, cfg *sdk.ServeConfig, typ, dir string) ([]*sdk.Definition, []string) {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, pluginSet(t, cfg, sdk.ProtocolV2))
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := pb.NewRuntimeClient(client.Conn).Definitions(ctx, &pb.DefinitionsRequest{Type: typ, Path: dir})
	if err != nil {
		t.Fatalf("Definitions(%s, %s): %v", typ, dir, status.Convert(err).Message())
	}
	return res.Definitions, res.Problems
}

func runV2(ctx context.Context, c pb.RuntimeClient, job *sdk.Job) (*Received, error) {
	st, err := c.Run(ctx, &pb.RunRequest{Job: job})
	if err != nil {
		return nil, err
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
			_, err := c.Ack(ctx, &pb.AckRequest{JobId: job.Id, Seq: last, Done: true})
			return got, err
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

func runV1(ctx context.Context, c *rpc.Client, job *sdk.Job) (*Received, error) {
	j := v1.Job{ID: job.Id, InstanceID: job.InstanceId, Name: job.Name, Type: job.Type, Script: job.Script,
		Init: job.Init, Args: job.Args, Input: job.Input, Workdir: job.Workdir, Env: job.Env, Command: job.Command}
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
