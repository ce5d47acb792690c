// Package locations holds where jobs run besides this machine's queue: the
// Slurm location (start --location slurm, package slurmloc) submits them to
// Slurm and follows them there; the SSH location (start --location ssh,
// package sshloc) runs them on other computers over ssh. The host admits a
// job for a location as for its own queue (whom it runs as, its script and
// runtime) and hands it over; the location creates its rows, runs it and
// stops it.
package locations

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/internal/slurmloc"
	"github.com/bgjob/bgjob/host/internal/sshloc"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/hashicorp/go-hclog"
)

// Location is where jobs run besides this machine's queue. Its jobs are in
// the host's job table, and written by it alone.
type Location interface {
	// Name is the location's name, as --location gives it (lower case).
	Name() string
	// Check refuses what a request for the location asks that it cannot
	// do, before a job exists. ownHost says the job would run as its
	// submitter, on a host of the submitter's own (not a system host, no
	// --credential).
	Check(req *api.StartRequest, ownHost bool) error
	// Submit creates the admitted job s there and has it run.
	Submit(ctx context.Context, s *remote.Submission) (*api.Job, error)
	// ClaimLocked splits js (the table's lock held) into the jobs the
	// location runs, as it stops them (a parent for its children, each
	// once), and the rest.
	ClaimLocked(js []*jobs.Job) (mine, rest []*jobs.Job)
	// Stop stops jobs ClaimLocked claimed and waits until they have ended.
	Stop(ctx context.Context, mine []*jobs.Job) error
	// Follow takes up the location's unfinished jobs the table holds
	// (those the previous host left), once the table is loaded.
	Follow()
	// Describe says whether the location can be reached now, and what it
	// has.
	Describe(ctx context.Context) api.Location
}

var (
	_ Location = (*slurmloc.Location)(nil)
	_ Location = (*sshloc.Location)(nil)
)

// Config is what the locations need of the host.
type Config struct {
	Table *jobs.Table
	// SlurmBin is the directory of Slurm's commands (empty: PATH);
	// SlurmDir where jobs on Slurm keep their files, shared with the
	// nodes; HostBinary is bgjobd, which runs jobs there and on the
	// computers over SSH.
	SlurmBin, SlurmDir, HostBinary string
	// SSH is the ssh client (empty: ssh on PATH); SSHDir the host's own
	// directory for the SSH location (its shared connections).
	SSH, SSHDir string
	// StopGrace is how long a stopped job's processes get, as here.
	StopGrace time.Duration
	Log       hclog.Logger
}

// Set is the locations, in the order `location list` shows them.
type Set []Location

// New returns the locations: Slurm, then SSH.
func New(cfg Config) Set {
	return Set{
		slurmloc.New(slurmloc.Config{Table: cfg.Table, Client: &slurm.Client{Bin: cfg.SlurmBin, Log: cfg.Log},
			Dir: cfg.SlurmDir, HostBinary: cfg.HostBinary, StopGrace: cfg.StopGrace, Log: cfg.Log}),
		sshloc.New(sshloc.Config{Table: cfg.Table, SSH: cfg.SSH, Dir: cfg.SSHDir, HostBinary: cfg.HostBinary,
			StopGrace: cfg.StopGrace, Log: cfg.Log}),
	}
}

// Lookup says which location req names: nil for this machine.
func (s Set) Lookup(req *api.StartRequest) (Location, error) {
	name := strings.ToLower(req.Location)
	if name == "" || name == api.LocationLocal {
		if req.Slurm != nil {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "--partition, --nodes, --nodelist, --ntasks, --time and --slurm-arg go with --location slurm")
		}
		if req.SSH != nil {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "--computer-name goes with --location ssh")
		}
		return nil, nil
	}
	names := []string{api.LocationLocal}
	for _, l := range s {
		if l.Name() == name {
			return l, nil
		}
		names = append(names, l.Name())
	}
	list := strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	return nil, errkind.Errorf(errkind.ErrBadRequest, "unknown --location %q; the locations are %s ('bgjob location list')", req.Location, list)
}

// Describe lists where jobs can run, this machine first, and whether each
// can be reached now.
func (s Set) Describe(ctx context.Context) []api.Location {
	out := []api.Location{{Name: api.LocationLocal, Kind: "local", Reachable: true,
		Detail: fmt.Sprintf("this machine (%s/%s)", runtime.GOOS, runtime.GOARCH)}}
	for _, l := range s {
		out = append(out, l.Describe(ctx))
	}
	return out
}

// Follow has each location take up its unfinished jobs the table holds.
func (s Set) Follow() {
	for _, l := range s {
		l.Follow()
	}
}

// StopLocked stops the jobs among js that are a location's to stop (as
// their parents), the table's lock held; it returns the rest, for this
// machine to stop, and those the locations stopped. The lock is let go
// while a location stops its jobs, and held again on return.
func (s Set) StopLocked(ctx context.Context, t *jobs.Table, js []*jobs.Job) (rest, stopped []*jobs.Job, err error) {
	for _, loc := range s {
		var mine []*jobs.Job
		if mine, js = loc.ClaimLocked(js); len(mine) == 0 {
			continue
		}
		t.Unlock()
		err := loc.Stop(ctx, mine)
		t.Lock()
		if err != nil {
			return nil, nil, err
		}
		stopped = append(stopped, mine...)
	}
	return js, stopped, nil
}
