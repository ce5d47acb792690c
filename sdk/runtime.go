package sdk

import (
	"context"
	"errors"
	"io"
	"time"
)

// Runtime is what a runtime plugin implements: run one job to its end.
//
// Run must return when ctx is cancelled, which is how the host stops a job:
// StopGrace(ctx) then says how long the job's processes may take to end before
// the runtime kills them. The job's records go to out; Run must not use out
// after it returns.
//
// What Run returns is how the job ended: Success(), Failure(code, reason),
// or, for a job that was stopped, anything: once the job was asked to stop
// (ctx cancelled by a StopRequest), the SDK reports it Stopped whatever Run
// returns, an error included, with the reason "stopped" unless Run returns
// StoppedResult(reason) to say more ("stopped; run it again to resume").
type Runtime interface {
	Run(ctx context.Context, job *Job, out Emitter) Result
}

// RuntimeFunc adapts a function to Runtime.
type RuntimeFunc func(ctx context.Context, job *Job, out Emitter) Result

// Run calls f.
func (f RuntimeFunc) Run(ctx context.Context, job *Job, out Emitter) Result {
	return f(ctx, job, out)
}

// Emitter takes a job's records. It numbers and timestamps them and keeps them
// until the host has persisted them. Emit blocks while too much is waiting
// for the host, which is how a job that prints faster than the host can store
// is slowed down instead of filling memory.
type Emitter interface {
	// Emit adds one record; the emitter sets its Seq and time.
	Emit(r *Record) error
	// Writer returns a writer whose text becomes records of stream s, one
	// per line. It is safe for concurrent use; what is left without a
	// newline is emitted when Run returns.
	Writer(s Stream) io.Writer
}

// Syncer is implemented by the SDK's Emitter. Sync sends what has been
// emitted to the host at once and waits briefly until it is on the host's
// connection. A runtime calls it before starting something that could take
// the runtime down with it (a program that kills its parent, say), so that
// what the job printed just before is not lost with the runtime.
type Syncer interface {
	Sync()
}

// StopRequest is the cause of a job context's cancellation when the host
// stops the job.
type StopRequest struct {
	Grace time.Duration
}

func (s *StopRequest) Error() string { return "the job was stopped" }

// StopGrace reports whether ctx was cancelled by a stop request, and the grace
// period the job's processes have to end before they are killed.
func StopGrace(ctx context.Context) (time.Duration, bool) {
	var s *StopRequest
	if errors.As(context.Cause(ctx), &s) {
		return s.Grace, true
	}
	return 0, false
}

// StoppedResult is the result of a job that ended because it was stopped;
// reason says more than "stopped" if it is not empty. (The SDK reports a job
// that was asked to stop as Stopped whatever Run returns: see Runtime.)
func StoppedResult(reason string) Result {
	if reason == "" {
		reason = "stopped"
	}
	return Result{State: Stopped, Reason: reason}
}

// stopRule is how a job that ran ended: res, or Stopped if the job was asked
// to stop, whatever Run made of it. A stop cancels the job's context, and
// Run's code that sees the cancellation usually returns the error it got
// (context.Canceled, a killed child's exit status): that is the stop, not a
// failure of the job. The reason is Run's if it said Stopped itself.
func stopRule(ctx context.Context, res Result) Result {
	if _, stopped := StopGrace(ctx); !stopped || res.State == Stopped && res.Reason != "" {
		return res
	}
	return Result{State: Stopped, Reason: "stopped", ExitCode: res.ExitCode}
}
