package protocol

import (
	"context"
	"sync"
	"time"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
)

// Acknowledgements that ride on the next Run.
//
// A batch's thread children end and start one after another on one shared
// process: each end's acknowledgement was a call of its own (an HTTP/2
// stream, a wake-up of the runtime and of the host): 6% of the host's CPU
// on a batch of trivial jobs, and a call more for the runtime to serve. A runtime that says so
// (Describe's acks_on_run) takes them in the next Run request instead. One
// that waits longer than lateAckDelay for the next job is sent them by Ack:
// until then it keeps the job's end and records, as it does for any
// acknowledgement not yet come, and a host killed meanwhile leaves them to
// the next host, as a kill between a persist and its Ack always has.

// lateAckDelay bounds how long an acknowledgement waits for a Run to ride
// on.
var lateAckDelay = 5 * time.Millisecond // a variable for tests

// lateAcks is a connection's acknowledgements waiting for a Run.
type lateAcks struct {
	mu      sync.Mutex
	pending []*pb.AckRequest
	timer   *time.Timer
}

// AckEnd implements EndAcker.
func (g *grpcConn) AckEnd(run RunID, seq uint64) {
	a := ackRequest(run, seq, true)
	if !g.acksOnRun.Load() {
		g.sendAck(a)
		return
	}
	g.queueAcks(a)
}

// queueAcks adds acks to those waiting for a Run, after any that wait
// already, and arms the timer that sends them by Ack if none comes.
func (g *grpcConn) queueAcks(acks ...*pb.AckRequest) {
	l := &g.late
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, acks...)
	if l.timer == nil {
		l.timer = time.AfterFunc(lateAckDelay, g.flushAcks)
	}
}

// takeAcks returns the acknowledgements waiting, for a Run to carry.
func (g *grpcConn) takeAcks() []*pb.AckRequest {
	l := &g.late
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	acks := l.pending
	l.pending = nil
	return acks
}

// FlushAcks implements EndAcker.
func (g *grpcConn) FlushAcks() { g.flushAcks() }

// flushAcks sends what waited lateAckDelay for a Run by Ack, one call each.
func (g *grpcConn) flushAcks() {
	for _, a := range g.takeAcks() {
		g.sendAck(a)
	}
}

// sendAck sends a by Ack; a failure leaves the end with the runtime, as
// for any acknowledgement not come.
func (g *grpcConn) sendAck(a *pb.AckRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = g.c.Ack(ctx, a)
}

// putBackAcks queues acks again when the Run that was to carry them
// failed: the runtime may not have them. One it had already is taken
// twice, which it ignores. (Their order among those queued meanwhile does
// not matter: each names its own run.) A Run cut off by its context (the
// host closing) sends them by Ack now: the host may be gone before
// lateAckDelay, and a process left holding an acknowledged end waits for
// a host to come back for it.
func (g *grpcConn) putBackAcks(ctx context.Context, acks []*pb.AckRequest) {
	if len(acks) == 0 {
		return
	}
	if ctx.Err() != nil {
		for _, a := range acks {
			g.sendAck(a)
		}
		return
	}
	g.queueAcks(acks...)
}
