package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// InputTaker is implemented by a Runtime whose jobs read input sent while
// they run: `bgjob send`, to a job started with `bgjob start --stdin-open`
// (Job.StdinOpen). It is optional; a runtime without it compiles and runs
// as before.
//
// For such a job the SDK makes a pipe before Run and holds its write end in
// the plugin process: Stdin(ctx) in Run returns the read end, which the
// runtime gives the job as its standard input (the file its programs read)
// instead of Job.Input. The pipe carries Job.Input first, then what each
// `bgjob send` writes, in order, and ends (the job reads end of file) with
// `bgjob send --eof`. Because the plugin holds the pipe, input survives a
// host that goes away: the host that reattaches sends into the same pipe.
// After Run returns the SDK closes both ends; the runtime closes neither.
//
// TakesInput says whether job can take input: nil, or why not, in words
// for the user (`bgjob send` shows them). The SDK asks it once, when the
// job starts. A runtime that is no InputTaker, or refuses, runs the job
// with its input ending after Job.Input, as without --stdin-open; the job
// gets a warning saying so, and `bgjob send` is refused with the reason.
type InputTaker interface {
	TakesInput(job *Job) error
}

type stdinKey struct{}

// Stdin returns the read end of the input pipe of a job started with
// --stdin-open (see InputTaker), from the ctx Run was given; false for
// any other job, whose input is Job.Input.
func Stdin(ctx context.Context) (*os.File, bool) {
	f, ok := ctx.Value(stdinKey{}).(*os.File)
	return f, ok && f != nil
}

// jobInput is the input pipe of a job started with --stdin-open.
type jobInput struct {
	// refusal, if set, is why the job takes no input (its runtime is no
	// InputTaker, or said no); there is no pipe then.
	refusal error
	r, w    *os.File
	// sem serialises writes, so input reaches the job in the order it was
	// sent, and guards what follows. A channel, not a mutex: a sender
	// waiting behind a full pipe gives up when its call is cancelled.
	sem   chan struct{}
	eof   bool // closed by the sender
	ended bool // the job has ended
}

// openInput prepares job's input: the pipe if rt, what runs the job,
// takes input, else the reason it does not (rtErr if nothing runs it).
func openInput(rt Runtime, rtErr error, desc *Description, job *Job) *jobInput {
	in := &jobInput{sem: make(chan struct{}, 1)}
	t, ok := rt.(InputTaker)
	switch {
	case rtErr != nil:
		in.refusal = rtErr
	case !ok:
		in.refusal = fmt.Errorf("the runtime %s %s does not take input while a job runs (it implements no sdk.InputTaker)", desc.Name, desc.Version)
	default:
		in.refusal = t.TakesInput(job)
	}
	if in.refusal != nil {
		return in
	}
	r, w, err := os.Pipe()
	if err != nil {
		in.refusal = fmt.Errorf("cannot make the job's input pipe: %v", err)
		return in
	}
	in.r, in.w = r, w
	if len(job.Input) > 0 {
		// --input comes first. Written by a goroutine holding the
		// semaphore, so a job that reads slowly delays its sends, not
		// its start.
		in.sem <- struct{}{}
		go func() {
			defer func() { <-in.sem }()
			_, _ = w.Write(job.Input) // fails once the job has ended
		}()
	}
	return in
}

// context adds the pipe's read end to the job's context.
func (in *jobInput) context(ctx context.Context) context.Context {
	if in == nil || in.r == nil {
		return ctx
	}
	return context.WithValue(ctx, stdinKey{}, in.r)
}

// end closes the pipe once the job has ended: a write blocked on a full
// pipe fails then, and later ones are refused.
func (in *jobInput) end() {
	if in == nil || in.r == nil {
		return
	}
	_ = in.r.Close()
	// A process the job left running may still hold the read end, so a
	// blocked write need not fail by itself: the deadline ends it.
	_ = in.w.SetWriteDeadline(time.Now())
	in.sem <- struct{}{}
	in.ended = true
	if !in.eof {
		_ = in.w.Close()
	}
	<-in.sem
}

// write writes data to the job's input and, with eof, closes it. The
// errors are gRPC statuses whose messages are for the user.
func (in *jobInput) write(ctx context.Context, data []byte, eof bool) error {
	switch {
	case in == nil:
		return status.Error(codes.FailedPrecondition, "the job was not started with --stdin-open: its input ended after what --input gave it")
	case in.refusal != nil:
		return status.Error(codes.FailedPrecondition, in.refusal.Error())
	}
	select {
	case in.sem <- struct{}{}:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-in.sem }()
	switch {
	case in.eof:
		return status.Error(codes.FailedPrecondition, "the job's input is closed already (it was sent --eof)")
	case in.ended:
		return status.Error(codes.FailedPrecondition, "the job has ended")
	}
	if len(data) > 0 {
		// A write waits while the pipe is full (the job reads slower
		// than input comes); a cancelled call stops waiting.
		interrupted := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			_ = in.w.SetWriteDeadline(time.Now())
			close(interrupted)
		})
		_, err := in.w.Write(data)
		if !stop() {
			// The deadline was set (or is being set): the next
			// write must not inherit it.
			<-interrupted
			_ = in.w.SetWriteDeadline(time.Time{})
		}
		switch {
		case err == nil:
		case errors.Is(err, syscall.EPIPE):
			return status.Error(codes.FailedPrecondition, "the job no longer reads its input (nothing holds its standard input open)")
		case ctx.Err() != nil:
			return status.FromContextError(ctx.Err()).Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			return status.Error(codes.FailedPrecondition, "the job ended before it read this input")
		default:
			return status.Errorf(codes.Internal, "cannot write to the job's input: %v", err)
		}
	}
	if eof {
		in.eof = true
		_ = in.w.Close()
	}
	return nil
}

// Input writes to a running job's standard input (bgjob send).
func (s *server) Input(ctx context.Context, req *pb.InputRequest) (*pb.InputResponse, error) {
	s.mu.Lock()
	j := s.jobs[req.JobId]
	s.mu.Unlock()
	if j == nil {
		return nil, status.Errorf(codes.NotFound, "no job %d in this runtime", req.JobId)
	}
	if err := j.input.write(ctx, req.Data, req.Eof); err != nil {
		return nil, err
	}
	return &pb.InputResponse{}, nil
}
