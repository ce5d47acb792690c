package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/rpc"
	"time"

	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
	v1 "github.com/bgjob/bgjob/sdk/proto/runtimev1"
	"github.com/hashicorp/go-plugin"
)

// netRPCPlugin is protocol 1's go-plugin glue on the host's side.
type netRPCPlugin struct{}

func (netRPCPlugin) Server(*plugin.MuxBroker) (interface{}, error) {
	return nil, errors.New("the host does not serve plugins")
}

func (netRPCPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &netRPCConn{c: c}, nil
}

// netRPCConn is a Conn over protocol 1. Records come by a long poll whose
// AfterSeq is the acknowledgement; the host's relay persists each batch
// before it asks for the next, so asking after the last batch returned
// acknowledges exactly what is persisted.
type netRPCConn struct {
	c *rpc.Client
}

// call makes one call, abandoned (not cancelled: net/rpc cannot) when ctx
// ends.
func (n *netRPCConn) call(ctx context.Context, method string, args, reply any) error {
	c := n.c.Go(method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-c.Done:
		return c.Error
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *netRPCConn) Describe(ctx context.Context) (*sdk.Description, error) {
	var d v1.Description
	if err := n.call(ctx, v1.MethodDescribe, v1.Empty{}, &d); err != nil {
		return nil, err
	}
	return &sdk.Description{Name: d.Name, Version: d.Version, OS: d.OS, Arch: d.Arch, Protocols: d.Protocols,
		Protocol: sdk.ProtocolV1, Pid: d.Pid, InstanceID: d.InstanceID}, nil
}

func (n *netRPCConn) Run(ctx context.Context, job *sdk.Job, afterSeq uint64) (Stream, error) {
	if job == nil {
		return nil, errors.New("run request without a job")
	}
	j := v1.Job{ID: job.Id, InstanceID: job.InstanceId, Name: job.Name, Type: job.Type, Script: job.Script,
		Init: job.Init, Args: job.Args, Input: job.Input, Workdir: job.Workdir, Env: job.Env, Command: job.Command, Umask: job.Umask,
		MergeError: job.MergeError}
	if err := n.call(ctx, v1.MethodStart, j, &v1.Empty{}); err != nil {
		return nil, err
	}
	return &netRPCStream{n: n, ctx: ctx, job: job.Id, after: afterSeq}, nil
}

// Ack: records are acknowledged by the next poll; only the job's end needs
// a call of its own.
// Ack: protocol 1 has no attempts; its runtimes run a job once per process.
func (n *netRPCConn) Ack(ctx context.Context, run RunID, seq uint64, done bool) error {
	if !done {
		return nil
	}
	return n.call(ctx, v1.MethodNext, v1.NextArgs{JobID: run.Job, AfterSeq: seq, Max: 1, AckDone: true}, &v1.NextReply{})
}

func (n *netRPCConn) Stop(ctx context.Context, jobID uint64, grace time.Duration) error {
	return n.call(ctx, v1.MethodStop, v1.StopArgs{JobID: jobID, GraceMillis: grace.Milliseconds()}, &v1.Empty{})
}

// pollWait is how long one poll waits for records.
const pollWait = time.Second

// netRPCStream turns polls into batches. A batch's records are each a line
// of text, framed as the record log keeps them.
type netRPCStream struct {
	n     *netRPCConn
	ctx   context.Context
	job   uint64
	after uint64
	done  *sdk.Done // the end, once received; returned after the last records
	ended bool
	buf   []byte
}

func (s *netRPCStream) Recv() (*sdk.Batch, error) {
	for {
		if s.ended {
			return nil, io.EOF
		}
		if s.done != nil {
			s.ended = true
			return &sdk.Batch{LastSeq: s.after, Done: s.done}, nil
		}
		var reply v1.NextReply
		if err := s.n.call(s.ctx, v1.MethodNext, v1.NextArgs{JobID: s.job, AfterSeq: s.after, WaitMillis: int(pollWait / time.Millisecond)}, &reply); err != nil {
			return nil, err
		}
		if reply.Done {
			s.done = doneOf(&reply)
		}
		if reply.LastSeq <= s.after {
			continue // nothing new
		}
		b := &sdk.Batch{LastSeq: reply.LastSeq}
		s.buf = s.buf[:0]
		for _, r := range reply.Records {
			if r.Seq <= s.after {
				continue
			}
			if b.FirstSeq == 0 {
				b.FirstSeq = r.Seq
			}
			var err error
			if s.buf, err = recordlog.AppendFramed(s.buf, recordOf(&r)); err != nil {
				return nil, fmt.Errorf("the runtime sent a record that cannot be kept: %w", err)
			}
		}
		b.Records = s.buf
		if b.FirstSeq == 0 {
			b.FirstSeq = reply.LastSeq
		}
		s.after = reply.LastSeq
		return b, nil
	}
}

// recordOf is a protocol-1 line as a record: text of the output and error
// streams as a chunk (a line, byte for byte: with its newline unless the
// runtime says it had none), a message and the text of warnings and
// verbose as messages.
func recordOf(r *v1.Record) *sdk.Record {
	rec := &sdk.Record{Seq: r.Seq, TimeUnixNano: r.TimeUnixNano}
	switch r.Stream {
	case v1.Error:
		rec.Stream = sdk.Error
	case v1.Warning:
		rec.Stream = sdk.Warning
	case v1.Verbose:
		rec.Stream = sdk.Verbose
	default:
		rec.Stream = sdk.Output
	}
	switch {
	case r.Message || rec.Stream != sdk.Output && rec.Stream != sdk.Error:
		rec.Message = r.Text
	case r.Partial:
		rec.Chunk, rec.Count = []byte(r.Text), 1
	default:
		rec.Chunk, rec.Count = []byte(r.Text+"\n"), 1
	}
	return rec
}

func doneOf(r *v1.NextReply) *sdk.Done {
	d := &sdk.Done{Reason: r.Reason, ExitCode: int32(r.ExitCode), EndedUnixNano: r.EndedUnixNano}
	switch r.State {
	case v1.Failed:
		d.State = sdk.Failed
	case v1.Stopped:
		d.State = sdk.Stopped
	default:
		d.State = sdk.Completed
	}
	return d
}
