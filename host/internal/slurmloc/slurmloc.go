// Package slurmloc is the Slurm location: jobs started with --location
// slurm. Such a job is a parent job with one child job per Slurm task, as
// a PowerShell job on several computers is a parent with a child per
// computer: the parent shows the whole (its Location lists the nodes),
// each child one task (its Location is its node) and holds that task's
// records.
//
// Nothing of such a job runs in the host: Slurm queues and runs it, so it
// takes no slot in the host's queue. The host submits it (sbatch), then a
// poller reads what its tasks write to the job's directory on the shared
// filesystem (see package slurm) and asks Slurm where the job stands
// (squeue, then scontrol or sacct once it has left the queue). The task
// logs are read from the start after a host restart and records the child
// holds already are dropped by number, so each record reaches the child's
// log exactly once whenever the host dies.
//
// The host admits a job (whom it runs as, its script and runtime) and
// hands it over as a remote.Submission; from there on this package alone
// writes the job's rows, through the job table.
package slurmloc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/hashicorp/go-hclog"
)

// Config is what the Slurm location needs of the host.
type Config struct {
	// Table is the host's job table, which holds the location's jobs.
	Table *jobs.Table
	// Client runs Slurm's commands.
	Client *slurm.Client
	// Dir is where the jobs keep their files, on a filesystem the
	// cluster's nodes share with this host; HostBinary is bgjobd, which
	// the jobs run on the nodes, so it must be shared too.
	Dir, HostBinary string
	// StopGrace is how long a stopped job's processes get to end before
	// they are killed, as on this machine.
	StopGrace time.Duration
	Log       hclog.Logger
}

// Location is the Slurm location. Its methods are safe for concurrent use.
type Location struct {
	cfg    Config
	t      *jobs.Table
	client *slurm.Client
	log    hclog.Logger

	// Guarded by the table's lock (Table.Lock): following says the
	// poller runs; submitting holds the parents whose submission is under
	// way (the poller leaves them alone); tasks what the poller holds for
	// each child job it follows.
	following  bool
	submitting map[uint64]bool
	tasks      map[uint64]*task

	// active is Slurm's last answer about the active jobs, at asked; the
	// poller alone uses them.
	active map[string]slurm.JobState
	asked  time.Time
}

// task is what the poller holds for a child job while it follows it.
type task struct {
	// cur is where the host has read the child's task log to.
	cur remote.Cursor
	// endAt is when the poller first saw the task end.
	endAt time.Time
}

// New returns the Slurm location. It follows nothing until Follow (or a
// submission) asks it to.
func New(cfg Config) *Location {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	return &Location{cfg: cfg, t: cfg.Table, client: cfg.Client, log: cfg.Log,
		submitting: map[uint64]bool{}, tasks: map[uint64]*task{}}
}

// Name is the location's name, as --location gives it.
func (l *Location) Name() string { return api.LocationSlurm }

// Follow makes sure the poller follows the location's unfinished jobs the
// table holds (those the previous host left, once the table is loaded).
func (l *Location) Follow() {
	l.t.Lock()
	l.followLocked()
	l.t.Unlock()
}

// Check validates what goes with --location slurm. ownHost says the job
// would run as its submitter, on a host of the submitter's own (not a
// system host, no --credential), which a job on Slurm must.
func (l *Location) Check(req *api.StartRequest, ownHost bool) error {
	switch {
	case req.Thread:
		return errkind.Errorf(errkind.ErrBadRequest, "--thread runs jobs in a process of this host; it does not go with --location slurm")
	case len(req.After) > 0:
		return errkind.Errorf(errkind.ErrBadRequest, "--after does not go with --location slurm yet; chain Slurm jobs with --slurm-arg=--dependency=afterok:ID")
	case req.Group != "":
		return errkind.Errorf(errkind.ErrBadRequest, "--group limits jobs on this host; a job on Slurm is queued by Slurm (--partition)")
	case jobs.Later(req):
		return errkind.Errorf(errkind.ErrBadRequest, "--at, --delay, --timeout and --retries are for jobs on this host; on Slurm, give sbatch's --begin, --time or --requeue with --slurm-arg")
	case req.Typed():
		return errkind.Errorf(errkind.ErrBadRequest, "only scripts (BackgroundJob) run on --location slurm")
	case req.StdinOpen:
		return errkind.Errorf(errkind.ErrBadRequest, "--stdin-open keeps a job's input open in a runtime on this host; a job on Slurm takes no input while it runs")
	case req.OnEnd != "":
		// Not kept with the job yet: refused rather than never run.
		return errkind.Errorf(errkind.ErrBadRequest, "--on-end does not go with --location slurm yet; the host's 'bgjob queue --on-end' runs for jobs on Slurm too")
	}
	if s := req.Slurm; s != nil && (s.Nodes < 0 || s.Tasks < 0) {
		return errkind.Errorf(errkind.ErrBadRequest, "--nodes and --ntasks want a positive number")
	}
	if s := req.Slurm; s != nil {
		if err := checkTaskCount(s); err != nil {
			return err
		}
		for _, a := range s.Args {
			if err := checkSlurmArg(a); err != nil {
				return err
			}
		}
	}
	if !ownHost {
		return errkind.Errorf(errkind.ErrBadRequest, "a job on Slurm runs as whoever submits it: submit it from your own host, without --credential")
	}
	return nil
}

// checkTaskCount refuses a job of more tasks or nodes than
// api.MaxSlurmTasks, each of which would be a child job, before any is
// made.
func checkTaskCount(s *api.SlurmRequest) error {
	n, what := s.Tasks, fmt.Sprintf("--ntasks %d", s.Tasks)
	if s.Nodes > n {
		n, what = s.Nodes, fmt.Sprintf("--nodes %d", s.Nodes)
	}
	if s.NodeList != "" {
		// bgjob makes a child job per name; a range (n[1-4]) or a file
		// of names (sbatch reads a list with a '/' as a path) names more
		// nodes than its commas, each running a task with no child job,
		// and would escape the bound.
		if strings.ContainsAny(s.NodeList, "[/") {
			return errkind.Errorf(errkind.ErrBadRequest, "--nodelist %s: give the nodes' names separated by commas (bgjob makes a child job for each name), not a range or a file; expand a range with: scontrol show hostnames '%s' | paste -sd,", s.NodeList, s.NodeList)
		}
		if k := len(strings.Split(s.NodeList, ",")); k > n {
			n, what = k, fmt.Sprintf("--nodelist names %d nodes", k)
		}
	}
	if n <= api.MaxSlurmTasks {
		return nil
	}
	return errkind.Errorf(errkind.ErrBadRequest, "%s: a job on Slurm has at most %d tasks or nodes, each a child job the host follows; for many items, start a job per item (or a batch on this machine with --foreach); for more processes, give each task more CPUs (--slurm-arg=--cpus-per-task=N) and start them in its script", what, api.MaxSlurmTasks)
}

// checkSlurmArg refuses an sbatch option given with --slurm-arg that
// would run the job otherwise than bgjob follows it: an array runs the
// script once per index, as one job bgjob sees run once; the tasks and
// nodes (their count, tasks per node, which nodes) are bgjob's own flags,
// which make a child job for each.
func checkSlurmArg(a string) error {
	name, _, _ := strings.Cut(a, "=")
	switch {
	case name == "--array" || strings.HasPrefix(a, "-a"):
		return errkind.Errorf(errkind.ErrBadRequest, "--slurm-arg=%s: an array runs the script once per index, which bgjob would follow as one run; start a job per index (or bgjob start --foreach)", a)
	case name == "--ntasks" || name == "--nodes" || strings.HasPrefix(a, "-n") || strings.HasPrefix(a, "-N"):
		return errkind.Errorf(errkind.ErrBadRequest, "--slurm-arg=%s: give bgjob's --ntasks or --nodes, which make a child job for each task", a)
	case name == "--ntasks-per-node":
		// More tasks than bgjob made child jobs for: the others would
		// run with none.
		return errkind.Errorf(errkind.ErrBadRequest, "--slurm-arg=%s: give bgjob's --ntasks (and --nodes), which make a child job for each task; tasks per node would run tasks bgjob has no child job for", a)
	case name == "--nodelist" || strings.HasPrefix(a, "-w") || name == "--nodefile" || strings.HasPrefix(a, "-F"):
		return errkind.Errorf(errkind.ErrBadRequest, "--slurm-arg=%s: give bgjob's --nodelist a,b, which makes a child job for each node", a)
	}
	return nil
}

// Describe says whether Slurm can be reached now, and what it has.
func (l *Location) Describe(ctx context.Context) api.Location {
	loc := api.Location{Name: api.LocationSlurm, Kind: "slurm"}
	parts, err := l.client.Partitions(ctx)
	if err != nil {
		loc.Detail = err.Error()
		return loc
	}
	var names []string
	for _, p := range parts {
		n := p.Name
		if p.Default {
			n += "*"
		}
		if !p.Up {
			n += " (down)"
		}
		names = append(names, fmt.Sprintf("%s %d node(s)", n, p.Nodes))
	}
	loc.Reachable = true
	loc.Detail = "partitions: " + strings.Join(names, ", ") + "; job files in " + l.cfg.Dir + " (shared with the nodes)"
	return loc
}
