package sdk

import (
	"errors"
	"net/rpc"
	"os"
	"strings"
	"time"

	v1 "github.com/bgjob/bgjob/sdk/proto/runtimev1"
	"github.com/hashicorp/go-plugin"
)

// Protocol 1, the legacy line (see sdk/proto/runtimev1): net/rpc, a long
// poll for records, four streams of text. The SDK serves it from the same
// job table and spools as protocol 2, so a runtime serves either, or both,
// from one binary.

// netRPCPlugin is protocol 1's go-plugin glue on the plugin's side.
type netRPCPlugin struct {
	srv *server
}

// Server is called each time a host takes the process (dispenses the
// plugin): protocol 1's only sign of a host, as it counts no connections
// (see server.watch).
func (p *netRPCPlugin) Server(*plugin.MuxBroker) (interface{}, error) {
	p.srv.mu.Lock()
	p.srv.dispensedAt = time.Now()
	p.srv.mu.Unlock()
	return &netRPCServer{s: p.srv}, nil
}

func (p *netRPCPlugin) Client(*plugin.MuxBroker, *rpc.Client) (interface{}, error) {
	return nil, errors.New("sdk: the plugin side of the protocol has no client; the host brings its own")
}

// netRPCServer is the object go-plugin serves as "Plugin".
type netRPCServer struct {
	s *server
}

// maxPull bounds the records one Next returns, and pullWaitMax the wait a
// host may ask for.
const (
	maxPull     = 8192
	pullWaitMax = 30 * time.Second
)

func (n *netRPCServer) Describe(_ v1.Empty, d *v1.Description) error {
	*d = v1.Description{Name: n.s.desc.Name, Version: n.s.desc.Version, OS: n.s.desc.OS, Arch: n.s.desc.Arch,
		Protocols: n.s.desc.Protocols, Pid: os.Getpid(), InstanceID: processInstance}
	return nil
}

func (n *netRPCServer) Start(job v1.Job, _ *v1.Empty) error {
	j := &Job{Id: job.ID, InstanceId: job.InstanceID, Name: job.Name, Type: job.Type, Script: job.Script,
		Init: job.Init, Args: job.Args, Input: job.Input, Workdir: job.Workdir, Env: job.Env, Command: job.Command, Umask: job.Umask,
		MergeError: job.MergeError}
	n.s.mu.Lock()
	sj, ok := n.s.jobs[job.ID]
	if !ok {
		sj = n.s.start(j)
		n.s.jobs[job.ID] = sj
	}
	n.s.mu.Unlock()
	sj.begin()
	return nil
}

func (n *netRPCServer) Next(args v1.NextArgs, reply *v1.NextReply) error {
	sj, err := n.s.job(args.JobID)
	if err != nil {
		return err
	}
	max := args.Max
	if max <= 0 || max > maxPull {
		max = maxPull
	}
	wait := min(time.Duration(args.WaitMillis)*time.Millisecond, pullWaitMax)
	recs, last, done := sj.spool.pull(args.AfterSeq, max, wait, args.AckDone)
	reply.LastSeq = last
	for _, r := range recs {
		reply.Records = appendV1(reply.Records, r, args.AfterSeq)
	}
	if done != nil {
		reply.Done, reply.Reason, reply.ExitCode = true, done.Reason, int(done.ExitCode)
		reply.EndedUnixNano = done.EndedUnixNano
		switch done.State {
		case Failed:
			reply.State = v1.Failed
		case Stopped:
			reply.State = v1.Stopped
		default:
			reply.State = v1.Completed
		}
	}
	return nil
}

func (n *netRPCServer) Stop(args v1.StopArgs, _ *v1.Empty) error {
	return n.s.stop(args.JobID, time.Duration(args.GraceMillis)*time.Millisecond)
}

// appendV1 adds r's lines numbered after after, as protocol 1 carries them:
// Debug goes with Verbose, Information with Output, and Progress, which an
// older runtime has no way to show, is left out (its numbers still count).
func appendV1(out []v1.Record, r *Record, after uint64) []v1.Record {
	var stream int
	switch r.Stream {
	case Output, Information:
		stream = v1.Output
	case Error:
		stream = v1.Error
	case Warning:
		stream = v1.Warning
	case Verbose, Debug:
		stream = v1.Verbose
	default:
		return out
	}
	if r.Chunk == nil {
		if r.Seq > after {
			out = append(out, v1.Record{Seq: r.Seq, TimeUnixNano: r.TimeUnixNano, Stream: stream, Text: r.Message, Message: true})
		}
		return out
	}
	text, whole := strings.CutSuffix(string(r.Chunk), "\n")
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if seq := r.Seq + uint64(i); seq > after {
			out = append(out, v1.Record{Seq: seq, TimeUnixNano: r.TimeUnixNano, Stream: stream, Text: line,
				Partial: i == len(lines)-1 && !whole})
		}
	}
	return out
}
