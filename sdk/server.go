package sdk

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/stats"
)

// server is the plugin side of protocol 2: it runs jobs with a Runtime and
// streams their spools to whichever host is attached.
type server struct {
	pb.UnimplementedRuntimeServer

	impl   Runtime
	desc   *Description
	logger hclog.Logger

	bulk bulkListener
	// inProcess: the server runs in a process that is not the plugin's
	// own (a test harness), which must keep its working directory.
	inProcess bool
	// idleTimeout, if set, ends a plugin that never got a job (a spare a
	// crashed host left behind) sooner than the orphan timeout.
	idleTimeout time.Duration

	mu      sync.Mutex
	jobs    map[uint64]*serverJob
	streams int       // Run streams open now
	idle    time.Time // when streams last dropped to zero
	conns   int       // host connections open now
	hadConn bool      // a host has connected
	connsAt time.Time // when conns last dropped to zero
}

// connCounter tells the server of each host connection made and lost.
type connCounter struct{ s *server }

func (c connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (c connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (c connCounter) HandleConn(_ context.Context, st stats.ConnStats) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	switch st.(type) {
	case *stats.ConnBegin:
		c.s.conns++
		c.s.hadConn = true
	case *stats.ConnEnd:
		c.s.conns--
		if c.s.conns == 0 {
			c.s.connsAt = time.Now()
		}
	}
}

type serverJob struct {
	spool  *spool
	cancel context.CancelCauseFunc
	once   sync.Once
	run    func()
}

// begin starts the job, once. The job starts only when a host is attached
// and able to take its records, so that what it prints first cannot be lost
// with a runtime that dies before the host connects.
func (j *serverJob) begin() { j.once.Do(func() { go j.run() }) }

func newServer(impl Runtime, desc *Description, logger hclog.Logger) *server {
	return &server{impl: impl, desc: desc, logger: logger, jobs: map[uint64]*serverJob{}, idle: time.Now()}
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return s.desc.proto(), nil
}

// Run starts the job the first time it is asked for, and attaches to it every
// time: a host that comes back after a crash asks again with the last
// sequence number it persisted.
func (s *server) Run(req *pb.RunRequest, stream pb.Runtime_RunServer) error {
	job := req.GetJob()
	if job == nil {
		return fmt.Errorf("run request without a job")
	}
	s.mu.Lock()
	j, ok := s.jobs[job.Id]
	if !ok {
		j = s.start(job)
		s.jobs[job.Id] = j
	}
	s.streams++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.streams--
		if s.streams == 0 {
			s.idle = time.Now()
		}
		s.mu.Unlock()
	}()
	if req.Bulk {
		return s.serveBulk(stream.Context(), j, req.AfterSeq, stream.Send)
	}
	j.begin()
	return j.spool.stream(stream.Context(), req.AfterSeq, stream.Send)
}

// start prepares the job to run in its own goroutine. The job's context is
// not the stream's: a job outlives the host that started it.
func (s *server) start(job *Job) *serverJob {
	ctx, cancel := context.WithCancelCause(context.Background())
	j := &serverJob{spool: newSpool(), cancel: cancel}
	em := newEmitter(j.spool)
	j.run = func() {
		// A runtime process runs one job, possibly started before the job
		// was known: its working directory becomes the job's here, and a
		// job never runs anywhere else.
		if job.Umask != nil && !s.inProcess {
			setUmask(*job.Umask)
		}
		if job.Workdir != "" && !s.inProcess {
			if err := os.Chdir(job.Workdir); err != nil {
				j.spool.finish(&Done{State: Failed, ExitCode: -1,
					Reason: fmt.Sprintf("cannot enter the working directory %s: %v", job.Workdir, err)})
				return
			}
		}
		res := s.runSafely(ctx, job, em)
		em.flush()
		if res.State == pb.State_STATE_UNSPECIFIED {
			res.State = Completed
		}
		j.spool.finish(&Done{State: res.State, Reason: res.Reason, ExitCode: int32(res.ExitCode)})
		s.logger.Debug("job ended", "job", job.Id, "state", res.State, "reason", res.Reason)
	}
	return j
}

func (s *server) runSafely(ctx context.Context, job *Job, em Emitter) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("runtime panicked", "panic", r, "stack", string(debug.Stack()))
			res = Failure(-1, fmt.Sprintf("the runtime %s %s crashed: %v", s.desc.Name, s.desc.Version, r))
		}
	}()
	return s.impl.Run(ctx, job, em)
}

func (s *server) Ack(_ context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	s.mu.Lock()
	j := s.jobs[req.JobId]
	s.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("no job %d in this runtime", req.JobId)
	}
	j.spool.ack(req.Seq, req.Done)
	return &pb.AckResponse{}, nil
}

func (s *server) Stop(_ context.Context, req *pb.StopRequest) (*pb.StopResponse, error) {
	s.mu.Lock()
	j := s.jobs[req.JobId]
	s.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("no job %d in this runtime", req.JobId)
	}
	j.cancel(&StopRequest{Grace: time.Duration(req.GraceMs) * time.Millisecond})
	return &pb.StopResponse{}, nil
}

// watch ends the plugin process once nobody can want it any more. A plugin is
// deliberately not tied to its host's life (no parent-death signal): a host
// that crashes comes back and reattaches to running jobs. So the plugin
// itself exits when every job has ended, the host has acknowledged all of
// it and no host is attached; or, if a host never comes back for what is
// left, after orphanTimeout without one.
func (s *server) watch(orphanTimeout time.Duration, exit func(code int)) {
	const linger = 2 * time.Second // let an attached host finish its Kill
	for range time.Tick(250 * time.Millisecond) {
		s.mu.Lock()
		streams, idleFor, n := s.streams, time.Since(s.idle), len(s.jobs)
		// A plugin that never got a job and whose host is gone (a spare
		// of a host that was killed) has nothing to wait for.
		hostGone := s.hadConn && s.conns == 0 && time.Since(s.connsAt) > linger
		allEnded, allAcked := true, true
		for _, j := range s.jobs {
			ended, acked := j.spool.state()
			allEnded = allEnded && ended
			allAcked = allAcked && acked
		}
		s.mu.Unlock()
		if streams > 0 || !allEnded {
			continue
		}
		neverUsed := n == 0 && (hostGone || s.idleTimeout > 0 && idleFor > s.idleTimeout)
		if (allAcked && n > 0 && idleFor > linger) || idleFor > orphanTimeout || neverUsed {
			s.logger.Info("no host needs this plugin any more; exiting", "jobs", n, "acknowledged", allAcked)
			s.bulk.close()
			exit(0)
			return
		}
	}
}
