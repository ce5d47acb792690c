package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// A Slurm job's directory, on the filesystem the host and the nodes share:
//
//	job.json         the Spec: the runtime to run and the child job of each task
//	payload          the job as its runtime receives it (sdk.Job, protobuf)
//	job.sh           the batch script sbatch runs
//	slurm.out        Slurm's own output for the batch script
//	task-N.log       task N's records, as the host's record logs hold them
//	task-N.start     task N began on a node (Started)
//	task-N.done      how task N's job ended (Ended)
//	task-N.runtime.log  the runtime's log on the node
//	stop             the host asks every task to stop its job (bgjob stop)
//
// Only the task writes its files and only the host reads them, so no lock
// is needed; .start and .done are written whole (renamed into place).

// Spec is job.json.
type Spec struct {
	Runtime  launch.Spec   `json:"runtime"`
	Children []Child       `json:"children"`
	Grace    time.Duration `json:"grace"`
}

// Child is the child job one task runs.
type Child struct {
	Task       int    `json:"task"`
	ID         uint64 `json:"id"`
	Name       string `json:"name"`
	InstanceID string `json:"instanceId"`
}

// Started is task-N.start.
type Started struct {
	Node string    `json:"node"`
	Pid  int       `json:"pid"`
	Time time.Time `json:"time"`
}

// Ended is task-N.done: the runtime's own account of the job's end, or
// the task's reason the runtime never ran it.
type Ended struct {
	State    string `json:"state"` // an api.State: Completed, Failed or Stopped
	ExitCode *int   `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
	LastSeq  uint64 `json:"lastSeq"`
	// Signalled: Slurm's TERM ended the job (its time limit, a cancel in
	// Slurm, preemption), not bgjob's stop; the host takes Slurm's
	// account of why.
	Signalled bool `json:"signalled,omitempty"`
}

// Paths in a job's directory.
func SpecPath(dir string) string    { return filepath.Join(dir, "job.json") }
func PayloadPath(dir string) string { return filepath.Join(dir, "payload") }
func ScriptPath(dir string) string  { return filepath.Join(dir, "job.sh") }
func OutputPath(dir string) string  { return filepath.Join(dir, "slurm.out") }
func LogPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".log")
}
func StartPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".start")
}
func DonePath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".done")
}

// StopPath is the file by which the host asks the tasks to stop their jobs:
// a stop goes through the shared filesystem rather than a Slurm signal,
// which would reach the job's processes directly and race the runtime's
// orderly stop (the job would end Failed, killed, rather than Stopped).
func StopPath(dir string) string { return filepath.Join(dir, "stop") }

// RequestStop asks the job's tasks to stop their jobs.
func RequestStop(dir string) error {
	return atomicfile.Write(StopPath(dir), []byte("stop\n"), 0o600)
}

// stopPoll is how often a task looks for the host's stop request.
const stopPoll = 250 * time.Millisecond

func runtimeLogPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".runtime.log")
}

// WriteJob writes a job's directory before it is submitted: its spec, its
// payload and the batch script, which runs `bgjobd slurm-task DIR` in every
// task. bgjobd is the host's own binary, so it too must be on the shared
// filesystem.
func WriteJob(dir string, spec *Spec, payload *sdk.Job, bgjobd string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot make the job's directory: %w", err)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	// Written, not synced: the node reads them after sbatch, and a
	// shared filesystem shows a file's content once it is closed
	// (close-to-open); a host machine that crashes meanwhile leaves a job
	// whose task says it cannot read them.
	if err := os.WriteFile(SpecPath(dir), b, 0o600); err != nil {
		return err
	}
	p, err := proto.Marshal(sdk.EncodeJob(payload))
	if err != nil {
		return err
	}
	if err := os.WriteFile(PayloadPath(dir), p, 0o600); err != nil {
		return err
	}
	script := "#!/bin/sh\n" +
		"# Written by bgjob: each task runs its child job's runtime on its node.\n" +
		"exec srun --kill-on-bad-exit=0 " + shellQuote(bgjobd) + " slurm-task " + shellQuote(dir) + "\n"
	return os.WriteFile(ScriptPath(dir), []byte(script), 0o700)
}

func shellQuote(s string) string {
	out := "'"
	for _, c := range s {
		if c == '\'' {
			out += `'\''`
		} else {
			out += string(c)
		}
	}
	return out + "'"
}

// ReadStarted reads task-N.start; false if the task has not begun.
func ReadStarted(dir string, task int) (Started, bool) {
	var s Started
	b, err := os.ReadFile(StartPath(dir, task))
	return s, err == nil && json.Unmarshal(b, &s) == nil
}

// ReadEnded reads task-N.done; false if the task's job has not ended.
func ReadEnded(dir string, task int) (Ended, bool) {
	var e Ended
	b, err := os.ReadFile(DonePath(dir, task))
	return e, err == nil && json.Unmarshal(b, &e) == nil
}

// RunTask is `bgjobd slurm-task DIR` on a node: it runs this task's child
// job (SLURM_PROCID says which) in its runtime, started by launcher, and
// writes what the runtime sends to the task's record log, synced before
// each batch is acknowledged, so a record the runtime forgets is on the
// shared filesystem. TERM (scancel --signal=TERM) stops the job with the
// spec's grace, as a local stop does. It returns once the job's end is
// recorded in task-N.done.
func RunTask(dir string, launcher launch.Launcher) error {
	task, err := strconv.Atoi(os.Getenv("SLURM_PROCID"))
	if err != nil {
		return fmt.Errorf("SLURM_PROCID is %q: slurm-task runs inside a Slurm job step (srun)", os.Getenv("SLURM_PROCID"))
	}
	node := os.Getenv("SLURMD_NODENAME")
	if node == "" {
		node, _ = os.Hostname()
	}
	fail := func(reason string) error {
		_ = writeEnded(dir, task, Ended{State: string(api.Failed), Reason: reason})
		return errors.New(reason)
	}
	b, err := os.ReadFile(SpecPath(dir))
	if err != nil {
		// Nothing to report to: the host finds no .done and says why.
		return fmt.Errorf("cannot read the job's spec on node %s: %w (bgjob needs %s on a filesystem the nodes share with its host)", node, err, dir)
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
		return fail(fmt.Sprintf("cannot read the job's payload on node %s: %v", node, err))
	}
	job := new(sdk.Job)
	if err := proto.Unmarshal(pb, job); err != nil {
		return fail(fmt.Sprintf("the job's payload is damaged: %v", err))
	}
	sdk.DecodeJob(job)
	job.Id, job.Name, job.InstanceId = child.ID, child.Name, child.InstanceID

	// A task that ran before (Slurm does not requeue bgjob's jobs, but a
	// node may run a step twice) appends after what is there.
	end, err := recordlog.Scan(LogPath(dir, task))
	if err != nil {
		return fail(fmt.Sprintf("the task's record log is damaged: %v", err))
	}
	w, err := recordlog.Open(LogPath(dir, task), end.Size)
	if err != nil {
		return fail(err.Error())
	}
	defer w.Close()
	st, _ := json.Marshal(Started{Node: node, Pid: os.Getpid(), Time: time.Now()})
	if err := atomicfile.Write(StartPath(dir, task), st, 0o600); err != nil {
		return fail(fmt.Sprintf("cannot write to the job's directory on node %s: %v", node, err))
	}

	rs := spec.Runtime
	rs.LogFile = runtimeLogPath(dir, task)
	// Slurm's TERM (a time limit, a cancel) reaches every process of the
	// step: the runtime lives on to stop its job in order; this task asks
	// it to.
	rs.Env = append(rs.Env, sdk.EnvIgnoreTerm+"=1")
	if fi, err := os.Stat(rs.Workdir); err != nil || !fi.IsDir() {
		return fail(fmt.Sprintf("the working directory %s is not there on node %s (bgjob needs it on a filesystem the nodes share)", rs.Workdir, node))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := launcher.Launch(ctx, &rs)
	if err != nil {
		return fail(fmt.Sprintf("cannot start the runtime on node %s: %v (bgjob needs its runtime catalog on a filesystem the nodes share)", node, err))
	}
	defer p.Release()

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
					signalled.Store(true)
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

	stream, err := p.Conn().Run(ctx, job, end.LastSeq)
	if err != nil {
		return fail(fmt.Sprintf("the runtime on node %s did not take the job: %v", node, err))
	}
	persisted := end.LastSeq
	for {
		b, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the record stream ended without the job's end")
			}
			return fail(fmt.Sprintf("the runtime (pid %d) on node %s was lost before the job ended (%v); the records it sent before (up to number %d) are kept; its log is %s", p.Pid(), node, err, persisted, rs.LogFile))
		}
		data, err := recordlog.Fresh(b, persisted)
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
				return fail(fmt.Sprintf("cannot store the job's records on node %s (%v), so the job was stopped", node, err))
			}
			persisted = b.LastSeq
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			_ = p.Conn().Ack(actx, job.Id, persisted, false)
			acancel()
		}
		if d := b.Done; d != nil {
			state, code := protocol.Ended(d)
			if err := writeEnded(dir, task, Ended{State: string(state), ExitCode: &code, Reason: d.Reason, LastSeq: persisted, Signalled: signalled.Load()}); err != nil {
				return err
			}
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			_ = p.Conn().Ack(actx, job.Id, persisted, true)
			acancel()
			if state != api.Completed {
				// Slurm shows the task failed too, as the job did.
				return fmt.Errorf("the job %s: %s", state, d.Reason)
			}
			return nil
		}
	}
}

func writeEnded(dir string, task int, e Ended) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return atomicfile.Write(DonePath(dir, task), b, 0o600)
}
