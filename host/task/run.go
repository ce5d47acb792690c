package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
	"google.golang.org/protobuf/proto"
)

// Options say where a task runs and what its messages tell a user.
type Options struct {
	// Task is the task's number in the job (its child job).
	Task int
	// Node names the machine in messages and in task-N.start.
	Node string
	// Shared, if set, is how a message ends when the task cannot find
	// what the host should have made visible to it (a cluster's shared
	// filesystem).
	Shared string
	// Home, if set, is where paths in the spec that are not absolute
	// (the runtime's binary, the working directory) are taken from, and
	// the working directory if the spec has none: a host does not know
	// the remote computer's home.
	Home string
	// Signalled: a TERM to the task comes from outside (Slurm's time
	// limit, a cancel), so the task records that it ended the job; the
	// runtime ignores TERM so that only the task stops it, in order.
	Signalled bool
	// Run is how many runs of the job came before this one: Slurm's
	// SLURM_RESTART_COUNT, once it has requeued the job (0 elsewhere). A
	// run after the first starts the job from its beginning again, with a
	// runtime that numbers its records from 1 (see nextRun).
	Run int
}

func (o *Options) abs(p string) string {
	if o.Home == "" || p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(o.Home, p)
}

// Run runs task o.Task of the job in dir in its runtime, started by
// launcher, and writes what the runtime sends to the task's record log,
// synced before each batch is acknowledged, so a record the runtime
// forgets is on disk. TERM stops the job with the spec's grace, as a
// local stop does, and so does the host's stop file. It returns once the
// job's end is recorded in task-N.done.
func Run(dir string, o Options, launcher launch.Launcher) error {
	task, node := o.Task, o.Node
	fail := func(reason string) error {
		_ = writeEnded(dir, task, Ended{State: string(api.Failed), Reason: reason, Run: o.Run})
		return errors.New(reason)
	}
	b, err := os.ReadFile(SpecPath(dir))
	if err != nil {
		// Nothing to report to: the host finds no .done and says why.
		return fmt.Errorf("cannot read the job's spec on %s: %w%s", node, err, o.Shared)
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fail(fmt.Sprintf("the job's spec %s is damaged: %v", SpecPath(dir), err))
	}
	var child *Child
	for i := range spec.Children {
		if spec.Children[i].Task == task {
			child = &spec.Children[i]
		}
	}
	if child == nil {
		return fail(fmt.Sprintf("task %d has no child job (the job has %d); was it submitted with more tasks than bgjob asked for?", task, len(spec.Children)))
	}
	pb, err := os.ReadFile(PayloadPath(dir))
	if err != nil {
		return fail(fmt.Sprintf("cannot read the job's payload on %s: %v", node, err))
	}
	job := new(sdk.Job)
	if err := proto.Unmarshal(pb, job); err != nil {
		return fail(fmt.Sprintf("the job's payload is damaged: %v", err))
	}
	sdk.DecodeJob(job)
	job.Id, job.Name, job.InstanceId = child.ID, child.Name, child.InstanceID
	if spec.InheritEnv {
		job.Env = append(os.Environ(), job.Env...)
	}

	// A task that ran before appends after what is there.
	end, err := recordlog.Scan(LogPath(dir, task))
	if err != nil {
		return fail(fmt.Sprintf("the task's record log is damaged: %v", err))
	}
	w, err := recordlog.Open(LogPath(dir, task), end.Size)
	if err != nil {
		return fail(err.Error())
	}
	defer w.Close()
	base, after, err := nextRun(dir, o, w, end)
	if err != nil {
		return fail(fmt.Sprintf("cannot write to the task's record log on %s: %v", node, err))
	}
	st, _ := json.Marshal(Started{Node: node, Pid: os.Getpid(), Time: time.Now(), Run: o.Run, Base: base})
	if err := atomicfile.Write(StartPath(dir, task), st, 0o600); err != nil {
		return fail(fmt.Sprintf("cannot write to the job's directory on %s: %v", node, err))
	}

	rs := spec.Runtime
	rs.LogFile = runtimeLogPath(dir, task)
	rs.Binary = o.abs(rs.Binary)
	if rs.Workdir = o.abs(rs.Workdir); rs.Workdir == "" {
		rs.Workdir = o.Home
	}
	if job.Workdir == "" || !filepath.IsAbs(job.Workdir) {
		job.Workdir = rs.Workdir
	}
	if o.Signalled {
		// A TERM from outside reaches every process: the runtime lives on
		// to stop its job in order; this task asks it to.
		rs.Env = append(rs.Env, sdk.EnvIgnoreTerm+"=1")
	}
	if fi, err := os.Stat(rs.Workdir); err != nil || !fi.IsDir() {
		return fail(fmt.Sprintf("the working directory %s is not there on %s%s", rs.Workdir, node, o.Shared))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := launcher.Launch(ctx, &rs)
	if err != nil {
		return fail(fmt.Sprintf("cannot start the runtime on %s: %v%s", node, err, o.Shared))
	}
	defer p.Release()
	// Best effort: without it, a follower cannot end what the runtime
	// leaves if this task is killed; the job runs all the same.
	start, _ := process.StartTime(p.Pid())
	if b, err := json.Marshal(RuntimeProc{Pid: p.Pid(), Start: start}); err == nil {
		_ = atomicfile.Write(runtimeProcPath(dir, task), b, 0o600)
	}

	var signalled atomic.Bool
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(terms)
	go func() {
		tick := time.NewTicker(stopPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-terms:
				if _, err := os.Stat(StopPath(dir)); err != nil {
					signalled.Store(o.Signalled)
				}
			case <-tick.C:
				if _, err := os.Stat(StopPath(dir)); err != nil {
					continue
				}
			}
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			_ = p.Conn().Stop(sctx, job.Id, spec.Grace)
			scancel()
			if _, err := os.Stat(StopPath(dir)); err == nil {
				// Asked once is enough; the runtime ends the job.
				return
			}
		}
	}()

	stream, err := p.Conn().Run(ctx, job, after)
	if err != nil {
		return fail(fmt.Sprintf("the runtime on %s did not take the job: %v", node, err))
	}
	// persisted is in the runtime's numbering, which the log's is base
	// past.
	persisted := after
	for {
		b, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the record stream ended without the job's end")
			}
			return fail(fmt.Sprintf("the runtime (pid %d) on %s was lost before the job ended (%v); the records it sent before (up to number %d) are kept; its log is %s", p.Pid(), node, err, base+persisted, rs.LogFile))
		}
		data, err := recordlog.Fresh(b, persisted)
		if err == nil && base > 0 {
			data, err = renumber(data, base)
		}
		if err != nil {
			return fail(fmt.Sprintf("the runtime sent a malformed batch: %v", err))
		}
		if len(data) > 0 {
			err = w.Append(data)
			if err == nil {
				err = w.Sync()
			}
			if err != nil {
				sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
				_ = p.Conn().Stop(sctx, job.Id, 0)
				scancel()
				return fail(fmt.Sprintf("cannot store the job's records on %s (%v), so the job was stopped", node, err))
			}
			persisted = b.LastSeq
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			_ = p.Conn().Ack(actx, protocol.RunOf(job), persisted, false)
			acancel()
		}
		if d := b.Done; d != nil {
			state, code, reason := protocol.Ended(d)
			if err := writeEnded(dir, task, Ended{State: string(state), ExitCode: &code, Reason: reason, LastSeq: base + persisted, Signalled: signalled.Load(), Run: o.Run}); err != nil {
				return err
			}
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			_ = p.Conn().Ack(actx, protocol.RunOf(job), persisted, true)
			acancel()
			if state != api.Completed {
				// The task's own status says the job failed, as it did.
				return fmt.Errorf("the job %s: %s", state, strings.TrimSpace(reason))
			}
			return nil
		}
	}
}

// nextRun says where this run's records go in the task's log, which w
// appends to after end: base is added to the number of each record the
// runtime sends, after is the last of them the log holds already.
//
// The same run started again (a node may run a step twice) goes on where
// it was, as a runtime does for a host that comes back. A new run (Slurm
// requeued the job, which starts again from its beginning with a runtime
// that numbers its records from 1) keeps what the runs before wrote and
// numbers its records on after theirs, behind a warning saying so: the
// host, which holds every record up to the last it read, takes each run's
// records once, in order, and a user sees where the new run begins.
func nextRun(dir string, o Options, w *recordlog.Writer, end recordlog.End) (base, after uint64, err error) {
	prev, ok := ReadStarted(dir, o.Task)
	switch {
	case ok && prev.Run == o.Run:
		if end.LastSeq < prev.Base {
			return prev.Base, 0, nil
		}
		return prev.Base, end.LastSeq - prev.Base, nil
	case o.Run == 0:
		return 0, end.LastSeq, nil
	}
	msg := fmt.Sprintf("Slurm requeued the job: it runs again from the start (run %d, on %s)", o.Run+1, o.Node)
	switch {
	case end.LastSeq > 0 && o.Run == 1:
		msg += "; the records before this one are from its first run"
	case end.LastSeq > 0:
		msg += "; the records before this one are from its earlier runs"
	}
	r := sdk.NewMessage(sdk.Warning, msg)
	r.Seq, r.TimeUnixNano = end.LastSeq+1, time.Now().UnixNano()
	b, err := recordlog.AppendFramed(nil, r)
	if err == nil {
		err = w.Append(b)
	}
	if err == nil {
		err = w.Sync()
	}
	return r.Seq, 0, err
}

// renumber adds by to the number of each record of batch.
func renumber(batch []byte, by uint64) ([]byte, error) {
	out := make([]byte, 0, len(batch)+len(batch)/8)
	err := recordlog.Each(batch, func(r *sdk.Record, _ []byte) error {
		r.Seq += by
		var err error
		out, err = recordlog.AppendFramed(out, r)
		return err
	})
	return out, err
}
