// Package task runs a bgjob job away from its host: `bgjobd slurm-task`
// in each task of a Slurm job (package slurm) and `bgjobd remote-task` on
// a computer reached over SSH (the SSH location) both run this code. A
// task starts the job's runtime as the host would and writes the records
// it sends to a record log in the job's directory, synced before each
// batch is acknowledged; the host reads that log as it grows (from a
// shared filesystem, or over SSH), and the numbering of the records makes
// that exactly-once whatever the host does meanwhile.
package task

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// A job's directory, where its tasks run:
//
//	job.json            the Spec: the runtime to run and the child job of each task
//	payload             the job as its runtime receives it (sdk.Job, protobuf)
//	task-N.log          task N's records, as the host's record logs hold them (every run's, when Slurm requeued the job: see nextRun)
//	task-N.start        task N began (Started)
//	task-N.done         how task N's job ended (Ended)
//	task-N.runtime.log  the runtime's log
//	task-N.runtime      the runtime's process (RuntimeProc), once started
//	stop                the host asks every task to stop its job (bgjob stop)
//
// Only the task writes its files and only the host reads them, so no lock
// is needed; .start and .done are written whole (renamed into place).

// Spec is job.json.
type Spec struct {
	Runtime  launch.Spec   `json:"runtime"`
	Children []Child       `json:"children"`
	Grace    time.Duration `json:"grace"`
	// InheritEnv: the job's environment is the task's own (a login's on
	// the remote computer) followed by the payload's, which then holds
	// only what the job adds (--env); the host's environment means
	// nothing on another computer.
	InheritEnv bool `json:"inheritEnv,omitempty"`
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
	// Run is the run of the job this task is (Options.Run); Base the
	// number of the last record in the task's log before this run's
	// runtime began, by which its records are numbered on from the
	// earlier runs' (see Run).
	Run  int    `json:"run,omitempty"`
	Base uint64 `json:"base,omitempty"`
}

// Ended is task-N.done: the runtime's own account of the job's end, or
// the task's reason the runtime never ran it.
type Ended struct {
	State    string `json:"state"` // an api.State: Completed, Failed or Stopped
	ExitCode *int   `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
	LastSeq  uint64 `json:"lastSeq"`
	// Signalled: a TERM from outside ended the job (Slurm's time limit,
	// a cancel in Slurm, preemption), not bgjob's stop; the host takes
	// the scheduler's account of why.
	Signalled bool `json:"signalled,omitempty"`
	// Run is the run of the job that ended (Options.Run): the end of a
	// run the scheduler requeued is not the job's.
	Run int `json:"run,omitempty"`
}

// Paths in a job's directory.
func SpecPath(dir string) string    { return filepath.Join(dir, "job.json") }
func PayloadPath(dir string) string { return filepath.Join(dir, "payload") }
func LogPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".log")
}
func StartPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".start")
}
func DonePath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".done")
}
func runtimeLogPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".runtime.log")
}
func runtimeProcPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".runtime")
}

// RuntimeProc is task-N.runtime: the runtime's process, by its pid and
// start time (0 where the system does not say), which leads a session
// holding the job's processes. A follower that finds the task gone
// without the job's end ends what is left of them (Follow): the task
// was the one to stop them, and nobody else knows them.
type RuntimeProc struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start,omitempty"`
}

// StopPath is the file by which the host asks the tasks to stop their jobs:
// a stop goes through the job's directory rather than a signal, which
// would reach the job's processes directly and race the runtime's orderly
// stop (the job would end Failed, killed, rather than Stopped).
func StopPath(dir string) string { return filepath.Join(dir, "stop") }

// RequestStop asks the job's tasks to stop their jobs.
func RequestStop(dir string) error {
	return atomicfile.Write(StopPath(dir), []byte("stop\n"), 0o600)
}

// stopPoll is how often a task looks for the host's stop request.
const stopPoll = 250 * time.Millisecond

// Encode is what WriteJob writes: job.json and the payload.
func Encode(spec *Spec, payload *sdk.Job) (specJSON, payloadBytes []byte, err error) {
	if specJSON, err = json.Marshal(spec); err != nil {
		return nil, nil, err
	}
	if payloadBytes, err = proto.Marshal(sdk.EncodeJob(payload)); err != nil {
		return nil, nil, err
	}
	return specJSON, payloadBytes, nil
}

// WriteJob writes a job's spec and payload into dir, made if need be.
func WriteJob(dir string, spec *Spec, payload *sdk.Job) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot make the job's directory: %w", err)
	}
	s, p, err := Encode(spec, payload)
	if err != nil {
		return err
	}
	// Written, not synced: the task reads them after the host hands the
	// job over, and a shared filesystem shows a file's content once it
	// is closed (close-to-open); a host machine that crashes meanwhile
	// leaves a job whose task says it cannot read them.
	if err := os.WriteFile(SpecPath(dir), s, 0o600); err != nil {
		return err
	}
	return os.WriteFile(PayloadPath(dir), p, 0o600)
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

func writeEnded(dir string, task int, e Ended) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return atomicfile.Write(DonePath(dir, task), b, 0o600)
}
