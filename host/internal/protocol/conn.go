// Package protocol is the host's end of the plugin protocol: one Go
// interface (Conn) over every protocol version the host speaks, the list of
// those versions, and the one place a go-plugin client is configured.
//
// A plugin serves its end through the sdk package; the host never links a
// plugin's server code and a plugin never links this package. Above Conn,
// nothing in the host knows which protocol a job's runtime speaks.
package protocol

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
)

// Conn is a connection to a running plugin process.
type Conn interface {
	// Describe says who the plugin is.
	Describe(ctx context.Context) (*sdk.Description, error)
	// Run starts the job, or attaches to it if the plugin runs it already,
	// and returns its batches after afterSeq. The last batch carries Done;
	// after it Recv returns io.EOF.
	Run(ctx context.Context, job *sdk.Job, afterSeq uint64) (Stream, error)
	// Ack says every record up to seq of the job's run is persisted (and,
	// with done, its end too), so the plugin may drop them.
	Ack(ctx context.Context, run RunID, seq uint64, done bool) error
	// Stop asks the job to end: its processes get grace, then are killed.
	Stop(ctx context.Context, jobID uint64, grace time.Duration) error
}

// RunID names one run of a job: its id, its instance (new at a restart)
// and its attempt (more after --retries; see sdk.Job). An acknowledgement
// names the run it is for, so that one still on its way when the job runs
// again does not count for the new run.
type RunID struct {
	Job      uint64
	Instance string
	Attempt  uint32
}

// RunOf is the run job is.
func RunOf(job *sdk.Job) RunID {
	return RunID{Job: job.Id, Instance: job.InstanceId, Attempt: job.Attempt}
}

// Reuser is what a Conn of protocol 2 answers beyond Conn: whether its
// process takes another job, as the runtime said with its last job's end
// (Done.reuse) or when that end was acknowledged (Ack with done), whichever
// came first. A reusable runtime's process is
// given the next job on that answer, without a Describe to ask again: one
// call fewer between two jobs, and the next job starts that much sooner.
type Reuser interface {
	// TakesAnother reports the answer to the last job's end, and whether
	// there was one: none since the process's last Run, or from a runtime
	// built before the answer existed.
	TakesAnother() (yes, known bool)
}

// Stream yields a job's batches in order. A batch's Records are valid until
// the next Recv.
type Stream interface {
	Recv() (*sdk.Batch, error)
}

// TypeConn is what a plugin serving custom job types answers beyond Conn:
// its definitions. Protocol 2 has it; protocol 1 does not.
type TypeConn interface {
	// Resolve finds a definition and says what to run. Its error is the
	// plugin's own words, for the user.
	Resolve(ctx context.Context, req *sdk.ResolveRequest) (*sdk.Definition, error)
	// Definitions lists a type's definitions in dir, with the problems
	// found in what could not be read.
	Definitions(ctx context.Context, typ, dir string) ([]*sdk.Definition, []string, error)
}

// InputConn is what a plugin answers beyond Conn when it takes input
// while a job runs (bgjob send): protocol 2 has it, protocol 1 does not.
type InputConn interface {
	// Input writes data to the job's standard input and, with eof,
	// closes it. ErrNoInput: the plugin predates the call. Any other
	// error of the plugin's is its own words, for the user.
	Input(ctx context.Context, jobID uint64, data []byte, eof bool) error
}

// ErrNoInput is Input's answer from a plugin built before protocol 2 had
// input: it does not know the call.
var ErrNoInput = errors.New("the runtime does not know input while a job runs (it was built with an SDK older than bgjob send)")

// Ended is how a job ended as the host shows it: the state of a runtime's
// Done, its exit code and its reason. A state the protocol does not name
// (none, or a number a broken plugin made up) is a failure, not a success:
// the SDK always names one.
func Ended(d *sdk.Done) (api.State, int, string) {
	switch d.State {
	case sdk.Completed:
		return api.Completed, int(d.ExitCode), d.Reason
	case sdk.Failed:
		return api.Failed, int(d.ExitCode), d.Reason
	case sdk.Stopped:
		return api.Stopped, int(d.ExitCode), d.Reason
	}
	reason := fmt.Sprintf("the runtime ended the job with a state the protocol does not name (%d)", int32(d.State))
	if d.Reason != "" {
		reason += ": " + d.Reason
	}
	code := int(d.ExitCode)
	if code == 0 {
		code = -1 // no status it exited with: not "Failed, exit 0"
	}
	return api.Failed, code, reason
}

// EndAcker is what a Conn of protocol 2 answers beyond Conn: an
// acknowledgement of a job's end that nobody waits on. That is a thread
// job's (its process is shared, and no answer about reuse is wanted), and
// any job's whose end carried the answer already (Reuser).
type EndAcker interface {
	// AckEnd acknowledges job jobID's end and its records up to seq. A
	// runtime that takes acknowledgements on Run gets it with the next
	// job its process is given, or by Ack after lateAckDelay if none comes
	// first; any other gets it by Ack before AckEnd returns.
	AckEnd(run RunID, seq uint64)
	// FlushAcks sends by Ack, now, what waits for a Run: for a host that
	// lets go of a process that runs on.
	FlushAcks()
}
