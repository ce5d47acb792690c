package sdk

import (
	"context"
	"time"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
)

// Client is the host's view of a running plugin, whatever protocol it speaks:
// the host adapts each protocol version to this one interface.
type Client interface {
	Describe(ctx context.Context) (*pb.DescribeResponse, error)
	// Run starts or attaches to a job and returns its batches, beginning
	// after afterSeq. The last batch carries Done; after it Recv returns
	// io.EOF.
	Run(ctx context.Context, job *Job, afterSeq uint64) (BatchStream, error)
	Ack(ctx context.Context, jobID, seq uint64, done bool) error
	Stop(ctx context.Context, jobID uint64, grace time.Duration) error
}

// BatchStream yields a job's batches in order.
type BatchStream interface {
	Recv() (*Batch, error)
}

type grpcClient struct {
	c pb.RuntimeClient
}

func (g *grpcClient) Describe(ctx context.Context) (*pb.DescribeResponse, error) {
	return g.c.Describe(ctx, &pb.DescribeRequest{})
}

// Run asks for bulk transfer; a plugin that does not offer it streams its
// batches over gRPC, and the first one is handed back first.
func (g *grpcClient) Run(ctx context.Context, job *Job, afterSeq uint64) (BatchStream, error) {
	st, err := g.c.Run(ctx, &pb.RunRequest{Job: job, AfterSeq: afterSeq, Bulk: true})
	if err != nil {
		return nil, err
	}
	first, err := st.Recv()
	if err != nil {
		return nil, err
	}
	if first.BulkAddress != "" {
		return dialBulk(ctx, first, st)
	}
	return &prefixed{first: first, rest: st}, nil
}

// prefixed is a stream whose first batch was read already.
type prefixed struct {
	first *Batch
	rest  BatchStream
}

func (p *prefixed) Recv() (*Batch, error) {
	if b := p.first; b != nil {
		p.first = nil
		return b, nil
	}
	return p.rest.Recv()
}

func (g *grpcClient) Ack(ctx context.Context, jobID, seq uint64, done bool) error {
	_, err := g.c.Ack(ctx, &pb.AckRequest{JobId: jobID, Seq: seq, Done: done})
	return err
}

func (g *grpcClient) Stop(ctx context.Context, jobID uint64, grace time.Duration) error {
	_, err := g.c.Stop(ctx, &pb.StopRequest{JobId: jobID, GraceMs: grace.Milliseconds()})
	return err
}
