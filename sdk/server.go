package sdk

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// server is the plugin side of protocol 2: it runs jobs with a Runtime and
// streams their spools to whichever host is attached.
type server struct {
	pb.UnimplementedRuntimeServer

	impl   Runtime            // plain jobs; nil if the plugin is no runtime
	types  map[string]JobType // custom job types by name
	desc   *Description
	logger hclog.Logger

	bulk bulkListener
	// inProcess: the server does not own the process's working directory
	// and mask: it runs several jobs at once (EnvShared), or in a test
	// harness's process, which enters the job's directory itself.
	inProcess bool
	// idleTimeout, if set, ends a plugin that never got a job (a spare a
	// crashed host left behind) sooner than the orphan timeout.
	idleTimeout time.Duration
	// abandonWait: how long a process that may have been given a job
	// waits for a host once its host's connection dropped (see watch).
	abandonWait time.Duration
	// dispensedAt: when a host last took this process over protocol 1
	// (zero: never); launcherGoneAt: when watch first saw its launcher
	// gone.
	dispensedAt, launcherGoneAt time.Time
	// launcherGone reports that the host that started the process is
	// gone (nil: never known); see watch.
	launcherGone func() bool

	// left ends what each job leaves running (ServeConfig.EndLeftovers);
	// retired is set once the process cannot vouch that a job left
	// nothing, and Describe then says it is not reusable.
	left    leftovers
	retired atomic.Bool

	mu      sync.Mutex
	jobs    map[uint64]*serverJob
	served  int       // jobs ended, acknowledged and forgotten (reusable plugins)
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
	// instance and attempt are the run of the job this is (Job's
	// instance_id and attempt): a Run of another is a new run.
	instance string
	attempt  uint32
	// input is the job's input pipe (nil unless Job.StdinOpen).
	input *jobInput
	once  sync.Once
	run   func()
}

// replacedBy reports whether job is a new run of the job j ran, which has
// ended: a later attempt, or another instance. A host that attaches again
// asks for the same run.
func (j *serverJob) replacedBy(job *Job) bool {
	if ended, _ := j.spool.state(); !ended {
		return false
	}
	return job.Attempt > j.attempt || job.InstanceId != j.instance
}

// is reports whether attempt and instance name j's run; a host from before
// they were sent names none, and means the run held.
func (j *serverJob) is(attempt uint32, instance string) bool {
	return attempt == 0 && instance == "" || attempt == j.attempt && instance == j.instance
}

// begin starts the job, once: when a host asks to run it, before the host
// has connected to the bulk socket (see serveBulk), as its records wait in
// the spool until acknowledged.
func (j *serverJob) begin() { j.once.Do(func() { goWorker(j.run) }) }

func newServer(cfg *ServeConfig, desc *Description, logger hclog.Logger) *server {
	s := &server{impl: cfg.Runtime, types: map[string]JobType{}, desc: desc, logger: logger, jobs: map[uint64]*serverJob{}, idle: time.Now(), abandonWait: defaultAbandonWait}
	for _, t := range cfg.Types {
		s.types[t.TypeName()] = t
	}
	return s
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	d := s.desc.proto()
	if s.retired.Load() {
		// A job's leftovers could not all be ended: the host asks
		// before reusing the process, and retires it.
		d.Reusable = false
	}
	return d, nil
}

// Run starts the job the first time it is asked for, and attaches to it every
// time: a host that comes back after a crash asks again with the last
// sequence number it persisted.
func (s *server) Run(req *pb.RunRequest, stream pb.Runtime_RunServer) error {
	job := req.GetJob()
	if job == nil {
		return fmt.Errorf("run request without a job")
	}
	DecodeJob(job)
	// Ends the host acknowledges with this job rather than by Ack; one
	// for a job this process no longer has is a repeat, and harmless.
	for _, a := range req.GetAcks() {
		_, _ = s.ack(a)
	}
	s.mu.Lock()
	j, ok := s.jobs[job.Id]
	if ok && j.replacedBy(job) {
		// The host runs the job again (a retry, a restart) and is done
		// with the run held here, which has ended: it holds its end only
		// until an acknowledgement that may still be on its way. Attached
		// to, it would hand the new run the old one's end.
		delete(s.jobs, job.Id)
		s.served++
		ok = false
	}
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
	j := &serverJob{spool: newSpool(), cancel: cancel, instance: job.InstanceId, attempt: job.Attempt}
	if job.StdinOpen {
		// Made now, before the job begins, so input sent at any time
		// after the host asked to run it has a pipe to go to.
		rt, err := s.runner(job.Type)
		j.input = openInput(rt, err, s.desc, job)
		ctx = j.input.context(ctx)
	}
	em := newEmitter(j.spool, job.MergeError)
	j.run = func() {
		// A runtime process runs a job at a time, possibly started before
		// the job was known: its working directory and mask become the
		// job's here (the mask the process started with, if the job
		// brings none), and a job never runs anywhere else. A process
		// that runs several at once leaves both to the runtime (the rule
		// is stated once, on Job's Workdir); in a test harness's process
		// (sdktest.Protocol) the harness enters the directory.
		if !s.inProcess {
			m := initialUmask
			if job.Umask != nil {
				m = *job.Umask
			}
			setUmask(m)
		}
		if job.Workdir != "" && !s.inProcess {
			if err := os.Chdir(job.Workdir); err != nil {
				j.input.end()
				j.spool.finish(&Done{State: Failed, ExitCode: -1, Reuse: s.reuse(),
					Reason: doneReason(fmt.Sprintf("cannot enter the working directory %s: %v", job.Workdir, err))})
				return
			}
		}
		// Every runtime's jobs see the same BGJOB_* variables.
		job.Env = jobEnv(job.Env, job, s.desc)
		if j.input != nil && j.input.refusal != nil {
			_ = em.Emit(NewMessage(Warning, fmt.Sprintf("--stdin-open: %v; the job's input ends after --input", j.input.refusal)))
		}
		s.left.begin()
		res := stopRule(ctx, s.runSafely(ctx, job, em))
		j.input.end()
		em.flush()
		// Before the end is reported (and the host hands the process to
		// the next job): what the job left running goes.
		grace := LeftoverGrace
		if g, ok := StopGrace(ctx); ok {
			grace = g
		}
		if n, ok := s.left.end(grace); !ok {
			s.retired.Store(true)
			s.logger.Warn("the job left processes that could not be ended; this process takes no further job", "job", job.Id)
		} else if n > 0 {
			s.logger.Info("ended processes the job left running", "job", job.Id, "count", n)
		}
		if res.State == pb.State_STATE_UNSPECIFIED {
			res.State = Completed
		}
		j.spool.finish(&Done{State: res.State, Reason: doneReason(res.Reason), ExitCode: int32(res.ExitCode), Reuse: s.reuse()})
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
	rt, err := s.runner(job.Type)
	if err != nil {
		return Failure(-1, err.Error())
	}
	return rt.Run(ctx, job, em)
}

// runner is what runs jobs of type typ: the runtime for plain jobs, else
// the custom type, if it runs its jobs itself.
func (s *server) runner(typ string) (Runtime, error) {
	if typ == "" || typ == BackgroundJob {
		if s.impl == nil {
			return nil, fmt.Errorf("%s %s is no runtime: it serves the job types %v", s.desc.Name, s.desc.Version, s.desc.TypeNames())
		}
		return s.impl, nil
	}
	t, ok := s.types[typ]
	if !ok {
		return nil, fmt.Errorf("%s %s serves no job type %q", s.desc.Name, s.desc.Version, typ)
	}
	rt, ok := t.(Runtime)
	if !ok {
		return nil, fmt.Errorf("the job type %s does not run jobs itself; start it from a definition", typ)
	}
	return rt, nil
}

// jobType returns the custom type name, or an error naming what is served.
func (s *server) jobType(name string) (JobType, error) {
	t, ok := s.types[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%s %s serves no job type %q (it serves %v)", s.desc.Name, s.desc.Version, name, s.desc.TypeNames())
	}
	return t, nil
}

// Resolve finds a definition of a custom type. The type's error reaches
// the user as it is.
func (s *server) Resolve(ctx context.Context, req *pb.ResolveRequest) (def *pb.Definition, err error) {
	t, err := s.jobType(req.Type)
	if err != nil {
		return nil, err
	}
	r, ok := t.(Resolver)
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "the job type %s has no definitions", req.Type)
	}
	defer s.recoverCall("Resolve", &err)
	def, err = r.Resolve(ctx, req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if def == nil {
		return nil, status.Errorf(codes.Internal, "the job type %s resolved %q to nothing", req.Type, req.DefinitionName)
	}
	return def, nil
}

// Definitions lists a custom type's definitions in a directory.
func (s *server) Definitions(ctx context.Context, req *pb.DefinitionsRequest) (res *pb.DefinitionsResponse, err error) {
	t, err := s.jobType(req.Type)
	if err != nil {
		return nil, err
	}
	l, ok := t.(Lister)
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "the job type %s does not list its definitions", req.Type)
	}
	defer s.recoverCall("Definitions", &err)
	defs, problems := l.Definitions(ctx, req.Path)
	res = &pb.DefinitionsResponse{Definitions: defs}
	for _, p := range problems {
		res.Problems = append(res.Problems, p.Error())
	}
	return res, nil
}

// recoverCall turns a panic in a type's call into that call's error, so one
// bad definition cannot take down a plugin that runs jobs.
func (s *server) recoverCall(call string, err *error) {
	if r := recover(); r != nil {
		s.logger.Error("job type panicked", "call", call, "panic", r, "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "%s %s crashed in %s: %v", s.desc.Name, s.desc.Version, call, r)
	}
}

// job is the job of this id that the process runs or holds records of.
func (s *server) job(id uint64) (*serverJob, error) {
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("no job %d in this runtime", id)
	}
	return j, nil
}

// stop asks job id to end, its processes given grace (both protocols).
func (s *server) stop(id uint64, grace time.Duration) error {
	j, err := s.job(id)
	if err != nil {
		return err
	}
	j.cancel(&StopRequest{Grace: grace})
	return nil
}

func (s *server) Ack(_ context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	return s.ack(req)
}

// ack is an acknowledgement, by Ack or carried by a Run (RunRequest.acks).
func (s *server) ack(req *pb.AckRequest) (*pb.AckResponse, error) {
	j, err := s.job(req.JobId)
	if err != nil {
		return nil, err
	}
	if !j.is(req.Attempt, req.InstanceId) {
		// For a run of the job before the one held (see replacedBy): it
		// says nothing of this one's records.
		return &pb.AckResponse{}, nil
	}
	j.spool.ack(req.Seq, req.Done)
	if !req.Done {
		return &pb.AckResponse{}, nil
	}
	if s.desc.Reusable {
		// Nothing of the job is left to send: a reused process forgets
		// it, so its job table does not grow with the jobs it served.
		s.mu.Lock()
		delete(s.jobs, req.JobId)
		s.served++
		s.mu.Unlock()
	}
	return &pb.AckResponse{Reuse: s.reuse()}, nil
}

// reuse is whether the host may give this process the next job, as
// Describe would say. A job's leftovers are dealt with before its end is
// sent, so the answer is final from then on: the end carries it
// (Done.reuse), and its acknowledgement says it again.
func (s *server) reuse() pb.Reuse {
	if s.desc.Reusable && !s.retired.Load() {
		return pb.Reuse_REUSE_YES
	}
	return pb.Reuse_REUSE_NO
}

func (s *server) Stop(_ context.Context, req *pb.StopRequest) (*pb.StopResponse, error) {
	if err := s.stop(req.JobId, time.Duration(req.GraceMs)*time.Millisecond); err != nil {
		return nil, err
	}
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
		streams, idleFor, n, conns := s.streams, time.Since(s.idle), len(s.jobs)+s.served, s.conns
		// A plugin that never got a job and whose host is gone (a spare
		// of a host that was killed) has nothing to wait for. Nor has one
		// whose host was killed before it ever connected (while it
		// started): no host has it in its records to come back for it,
		// as it records a process only once it is started, so it would
		// wait out the orphan timeout.
		hostGone := s.hadConn && s.conns == 0 && time.Since(s.connsAt) > linger
		// A host records the process it gives a job before it sends the
		// job (so that a job that runs can always be found again). Killed
		// between the two, it comes back to a job this process never got,
		// and only this process can run it: gone, the job must fail, as
		// nothing says it did not run. So a process that may have been
		// given a job (a spare, or a reusable one between jobs) waits a
		// while for a host after its host's connection dropped. A host
		// that closes ends such processes itself; a new one sweeps those
		// it has no record of; what is left waits only this long.
		awaitingHost := s.hadConn && s.conns == 0 && time.Since(s.connsAt) <= s.abandonWait
		if !s.hadConn && s.launcherGone != nil && s.launcherGone() {
			// Protocol 2: never connected, so never given a job. Protocol
			// 1 (net/rpc) counts no connections: a process a host took
			// (dispensed) waits as above, from when it saw its launcher
			// gone or a host last took it, whichever came last.
			if s.launcherGoneAt.IsZero() {
				s.launcherGoneAt = time.Now()
			}
			since := s.launcherGoneAt
			if s.dispensedAt.After(since) {
				since = s.dispensedAt
			}
			hostGone = s.dispensedAt.IsZero() || time.Since(since) > s.abandonWait
			awaitingHost = !hostGone
		}
		// A reusable plugin whose host is attached waits for its next job:
		// the host ends it when it keeps it no longer.
		keptByHost := s.desc.Reusable && (s.conns > 0 || awaitingHost)
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
		// The idle timeout is for a spare no host holds: one that a
		// host came back to (connected) waits for the job it records.
		idleOut := s.idleTimeout > 0 && idleFor > s.idleTimeout && conns == 0
		neverUsed := n == 0 && !awaitingHost && (hostGone || idleOut)
		if (allAcked && n > 0 && idleFor > linger && !keptByHost) || idleFor > orphanTimeout || neverUsed {
			s.logger.Info("no host needs this plugin any more; exiting", "jobs", n, "acknowledged", allAcked)
			s.bulk.close()
			exit(0)
			return
		}
	}
}

// maxReason bounds the reason a job's end carries: the host reads an end's
// batch header of at most 1 MiB, and keeps the reason in the job's row.
const maxReason = 64 << 10

// doneReason is reason as a job's end can carry it. Done.reason is a
// protobuf string, which must be UTF-8: a reason holding other bytes (a
// path that is not UTF-8, in an error a runtime returns) would fail to
// marshal, and the end, the reason and the records not yet sent would be
// lost with the broken stream ("crashed or was killed"). Each invalid
// sequence becomes U+FFFD, and a reason longer than maxReason is cut.
func doneReason(reason string) string {
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	if len(reason) <= maxReason {
		return reason
	}
	i := maxReason
	for i > 0 && !utf8.RuneStart(reason[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d more bytes cut)", reason[:i], len(reason)-i)
}
