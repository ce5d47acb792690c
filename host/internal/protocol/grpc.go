package protocol

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/bgjob/bgjob/sdk"
	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcPlugin is protocol 2's go-plugin glue on the host's side; peer is
// the process its connections must reach.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	peer *Peer
}

func (*grpcPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host does not serve plugins")
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &grpcConn{c: pb.NewRuntimeClient(c), peer: p.peer}, nil
}

// grpcDialOptions match the plugin's server options (sdk's limits): large
// flow-control windows and buffers, so a record stream is not held to
// gRPC's defaults.
func grpcDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(sdk.WindowSize),
		grpc.WithInitialConnWindowSize(sdk.WindowSize),
		grpc.WithReadBufferSize(sdk.IOBufferSize),
		grpc.WithWriteBufferSize(sdk.IOBufferSize),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageSize), grpc.MaxCallSendMsgSize(sdk.MaxMessageSize)),
	}
}

// grpcConn is a Conn over protocol 2. The bulk socket a run names is
// dialled only if it is peer's (nil: not checked, for in-process tests).
type grpcConn struct {
	c    pb.RuntimeClient
	peer *Peer
	// reuse is the runtime's answer to the last job's end (see Reuser).
	reuse atomic.Int32
	// acksOnRun: the runtime said it takes acknowledgements in a Run
	// request, and late holds those waiting for one (lateack.go).
	acksOnRun atomic.Bool
	late      lateAcks
}

func (g *grpcConn) Describe(ctx context.Context) (*sdk.Description, error) {
	r, err := g.c.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, err
	}
	g.acksOnRun.Store(r.AcksOnRun)
	return sdk.DescriptionOf(r), nil
}

// Run asks for bulk transfer; a plugin that does not offer it streams its
// batches over gRPC, and the first one is handed back first.
func (g *grpcConn) Run(ctx context.Context, job *sdk.Job, afterSeq uint64) (Stream, error) {
	g.reuse.Store(int32(pb.Reuse_REUSE_UNSPECIFIED)) // a new job: its end will say
	acks := g.takeAcks()
	st, err := g.c.Run(ctx, &pb.RunRequest{Job: sdk.EncodeJob(job), AfterSeq: afterSeq, Bulk: true, Acks: acks})
	if err != nil {
		g.putBackAcks(ctx, acks)
		return nil, err
	}
	first, err := st.Recv()
	if err != nil {
		// The call may have ended before the runtime read the request.
		g.putBackAcks(ctx, acks)
		return nil, err
	}
	if first.BulkAddress != "" {
		bs, err := dialBulk(ctx, g.peer, first, st)
		if err != nil {
			return nil, err
		}
		return endAnswer{bs, g}, nil
	}
	return endAnswer{&prefixed{first: first, rest: st}, g}, nil
}

// endAnswer notes the runtime's answer about reuse that a job's end
// carries (Done.reuse): the host then knows it without waiting for the
// end's acknowledgement, which may ride on the next Run (see ackEnd in
// the runner).
type endAnswer struct {
	Stream
	g *grpcConn
}

func (e endAnswer) Recv() (*sdk.Batch, error) {
	b, err := e.Stream.Recv()
	if d := b.GetDone(); err == nil && d.GetReuse() != pb.Reuse_REUSE_UNSPECIFIED {
		e.g.reuse.Store(int32(d.GetReuse()))
	}
	return b, err
}

// ackRequest is the acknowledgement of run's records up to seq.
func ackRequest(run RunID, seq uint64, done bool) *pb.AckRequest {
	return &pb.AckRequest{JobId: run.Job, Seq: seq, Done: done, Attempt: run.Attempt, InstanceId: run.Instance}
}

// prefixed is a stream whose first batch was read already.
type prefixed struct {
	first *sdk.Batch
	rest  Stream
}

func (p *prefixed) Recv() (*sdk.Batch, error) {
	if b := p.first; b != nil {
		p.first = nil
		return b, nil
	}
	return p.rest.Recv()
}

func (g *grpcConn) Ack(ctx context.Context, run RunID, seq uint64, done bool) error {
	r, err := g.c.Ack(ctx, ackRequest(run, seq, done))
	if err == nil && done && r.GetReuse() != pb.Reuse_REUSE_UNSPECIFIED {
		g.reuse.Store(int32(r.GetReuse()))
	}
	return err
}

func (g *grpcConn) TakesAnother() (yes, known bool) {
	switch pb.Reuse(g.reuse.Load()) {
	case pb.Reuse_REUSE_YES:
		return true, true
	case pb.Reuse_REUSE_NO:
		return false, true
	}
	return false, false
}

func (g *grpcConn) Stop(ctx context.Context, jobID uint64, grace time.Duration) error {
	_, err := g.c.Stop(ctx, &pb.StopRequest{JobId: jobID, GraceMs: grace.Milliseconds()})
	return err
}

func (g *grpcConn) Input(ctx context.Context, jobID uint64, data []byte, eof bool) error {
	_, err := g.c.Input(ctx, &pb.InputRequest{JobId: jobID, Data: data, Eof: eof})
	if status.Code(err) == codes.Unimplemented {
		return ErrNoInput
	}
	if err != nil {
		return pluginError(err)
	}
	return nil
}

func (g *grpcConn) Resolve(ctx context.Context, req *sdk.ResolveRequest) (*sdk.Definition, error) {
	def, err := g.c.Resolve(ctx, req)
	if err != nil {
		return nil, pluginError(err)
	}
	return def, nil
}

func (g *grpcConn) Definitions(ctx context.Context, typ, dir string) ([]*sdk.Definition, []string, error) {
	res, err := g.c.Definitions(ctx, &pb.DefinitionsRequest{Type: typ, Path: dir})
	if err != nil {
		return nil, nil, pluginError(err)
	}
	return res.Definitions, res.Problems, nil
}

// pluginError is what a plugin answered, without gRPC's wrapping: its
// words are for the user.
func pluginError(err error) error {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unavailable && s.Code() != codes.Canceled {
		return errors.New(s.Message())
	}
	return err
}
