// Package sshloc is the SSH location: jobs started with --location ssh
// --computer-name a,b (Invoke-Command -ComputerName a,b -AsJob). Such a
// job is a parent job with a child job per computer: the parent shows the
// whole, each child one computer (its Location) and holds the records of
// the job there.
//
// Nothing but sshd and a POSIX shell is needed on a computer. Through the
// system's ssh client the host asks the computer what it is (uname -sm),
// copies bgjobd and the job's runtime into a cache there keyed by their
// SHA-256 (~/.cache/bgjob/runtimes; copied once, verified before use) and
// the job into ~/.cache/bgjob/jobs/ID, and launches `bgjobd remote-task`,
// detached from the connection, which runs the job as the Slurm location's
// tasks do (package task) and writes its records to a log there. The host
// follows that log over ssh from the last byte it holds (`bgjobd
// remote-task -follow`), into a copy of its own from which the child's
// records are taken by number: a dropped connection is made again, a host
// killed and started again follows on, and each record reaches the child
// once. The host records that it launches the task before it does, and the
// task's directory there keeps a second launch from happening.
//
// The host admits a job (whom it runs as, its script and runtime) and
// hands it over as a remote.Submission; from there on this package alone
// writes the job's rows, through the job table.
package sshloc

import (
	"bytes"
	"context"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/hashicorp/go-hclog"
)

// Config is what the SSH location needs of the host.
type Config struct {
	// Table is the host's job table, which holds the location's jobs.
	Table *jobs.Table
	// SSH is the ssh client (default "ssh", on PATH).
	SSH string
	// Dir is where the host keeps its copies of the tasks' logs.
	Dir string
	// HostBinary is bgjobd, which is copied to the computers to run the
	// jobs there.
	HostBinary string
	// StopGrace is how long a stopped job's processes get to end before
	// they are killed, as on this machine.
	StopGrace time.Duration
	// NoMux turns off sharing one connection to a computer among the ssh
	// commands to it (ControlMaster).
	NoMux bool
	Log   hclog.Logger
}

// Location is the SSH location. Its methods are safe for concurrent use.
type Location struct {
	cfg Config
	t   *jobs.Table
	log hclog.Logger

	// Guarded by the table's lock: kids what the location holds for each
	// child it drives; busy how many connections each parent's children
	// hold (at most its --throttle-limit, but for children launched by a
	// previous host, which run there whatever the limit).
	kids map[uint64]*child
	busy map[uint64]int

	shaCache // bgjobd's hash

	muxOnce sync.Once // makes the directory of shared connections
	muxErr  error
}

// child is what the location holds for a child job while it drives it.
type child struct {
	// cur is where the host has read its copy of the task's log to.
	cur remote.Cursor
	// stops counts the stops asked for the job (the job is being
	// stopped once there is one); cancel ends the connection that follows
	// it, so that the next one carries the stop. Each stop has a
	// connection of its own try to carry it, even while the last one
	// waits to connect again: its removal may give up on what cannot be
	// reached (see Stop).
	stops  int
	cancel context.CancelFunc
	// unreachable is why the connections that were to carry the stop
	// could not be made (ssh's words) once stopTries in a row failed, ""
	// once one is made: a stop for a removal gives up on the child then
	// (see Stop). failedStops counts those failures.
	unreachable string
	failedStops int
	// abandoned: a removal gave up on the child with its task perhaps
	// still running there, so its directory there stays (see Stop).
	abandoned bool
	// connected: it holds one of its parent's connections (acquire).
	connected bool
	// wake, while it waits for a connection, is closed when it may have
	// its turn (passLocked).
	wake chan struct{}
}

// New returns the SSH location. It drives nothing until Follow (or a
// submission) asks it to.
func New(cfg Config) *Location {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.SSH == "" {
		cfg.SSH = "ssh"
	}
	return &Location{cfg: cfg, t: cfg.Table, log: cfg.Log, kids: map[uint64]*child{}, busy: map[uint64]int{}}
}

// Name is the location's name, as --location gives it.
func (l *Location) Name() string { return api.LocationSSH }

// Check validates what goes with --location ssh. ownHost says the job
// would run as its submitter, on a host of the submitter's own (not a
// system host, no --credential), which a job over SSH must: ssh runs with
// the submitter's keys and configuration, which a host of another user
// must not use.
func (l *Location) Check(req *api.StartRequest, ownHost bool) error {
	switch {
	case req.SSH == nil || len(req.SSH.Computers) == 0:
		return errkind.Errorf(errkind.ErrBadRequest, "--location ssh runs the job on the computers --computer-name names; give some")
	case req.Slurm != nil:
		return errkind.Errorf(errkind.ErrBadRequest, "--partition, --nodes, --nodelist, --ntasks, --time and --slurm-arg go with --location slurm")
	case req.Thread:
		return errkind.Errorf(errkind.ErrBadRequest, "--thread runs jobs in a process of this host; it does not go with --location ssh")
	case len(req.After) > 0:
		return errkind.Errorf(errkind.ErrBadRequest, "--after does not go with --location ssh yet")
	case req.Group != "":
		return errkind.Errorf(errkind.ErrBadRequest, "--group limits jobs on this host; a job over SSH is limited by --throttle-limit")
	case jobs.Later(req):
		return errkind.Errorf(errkind.ErrBadRequest, "--at, --delay, --timeout and --retries are for jobs on this host; they do not go with --location ssh yet")
	case req.Typed():
		return errkind.Errorf(errkind.ErrBadRequest, "only scripts (BackgroundJob) run on --location ssh")
	case req.OnEnd != "":
		return errkind.Errorf(errkind.ErrBadRequest, "--on-end does not go with --location ssh yet; the host's 'bgjob queue --on-end' runs for jobs over SSH too")
	case req.SSH.ThrottleLimit < 0:
		return errkind.Errorf(errkind.ErrBadRequest, "--throttle-limit %d: give a positive number", req.SSH.ThrottleLimit)
	}
	for _, c := range req.SSH.Computers {
		if _, err := parseComputer(c); err != nil {
			return errkind.WithKind(errkind.ErrBadRequest, err)
		}
	}
	if !ownHost {
		return errkind.Errorf(errkind.ErrBadRequest, "a job over SSH runs as whoever submits it, with their own ssh keys and configuration: submit it from your own host, without --credential")
	}
	return nil
}

// Describe says whether ssh is there, and what a computer needs.
func (l *Location) Describe(ctx context.Context) api.Location {
	loc := api.Location{Name: api.LocationSSH, Kind: "ssh"}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.cfg.SSH, "-V")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		loc.Detail = "cannot run ssh (" + err.Error() + "): the SSH location needs the OpenSSH client (apt-get install openssh-client)"
		return loc
	}
	loc.Reachable = true
	loc.Detail = "the computers --computer-name names, through " + strings.TrimSpace(out.String()) +
		" with your keys and ~/.ssh/config (known host keys only); each needs sshd, a POSIX shell and " +
		runtime.GOOS + "/" + runtime.GOARCH + " (bgjob copies bgjobd and the runtime to ~/.cache/bgjob there)"
	return loc
}
