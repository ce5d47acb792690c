package host

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/internal/slurmloc"
	"github.com/bgjob/bgjob/host/internal/sshloc"
	"github.com/bgjob/bgjob/host/store"
)

// Jobs run on this machine, in the host's queue, or at a location: the
// Slurm location (start --location slurm, package slurmloc) submits them
// to Slurm and follows them there; the SSH location (start --location ssh,
// package sshloc) runs them on other computers over ssh. The host admits a job for a location as
// for its own queue (whom it runs as, its script and runtime) and hands it
// over; the location creates its rows, runs it and stops it.

// ErrNoLocation: the location named cannot take jobs (not installed, not
// reachable, or it refused the request); the message carries its own.
var ErrNoLocation = errkind.ErrNoLocation

// location is where jobs run besides this machine's queue. Its jobs are in
// the host's job table, and written by it alone.
type location interface {
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
	_ location = (*slurmloc.Location)(nil)
	_ location = (*sshloc.Location)(nil)
)

// checkLocation says which location req names: nil for this machine.
func (h *Host) checkLocation(req *api.StartRequest) (location, error) {
	name := strings.ToLower(req.Location)
	if name == "" || name == api.LocationLocal {
		if req.Slurm != nil {
			return nil, errorf(ErrBadRequest, "--partition, --nodes, --nodelist, --ntasks, --time and --slurm-arg go with --location slurm")
		}
		if req.SSH != nil {
			return nil, errorf(ErrBadRequest, "--computer-name goes with --location ssh")
		}
		return nil, nil
	}
	names := []string{api.LocationLocal}
	for _, l := range h.locations {
		if l.Name() == name {
			return l, nil
		}
		names = append(names, l.Name())
	}
	list := strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	return nil, errorf(ErrBadRequest, "unknown --location %q; the locations are %s ('bgjob location list')", req.Location, list)
}

// startAt admits a job for location loc and hands it over: only scripts
// (BackgroundJob), run as whoever submits them.
func (h *Host) startAt(ctx context.Context, loc location, req *api.StartRequest, owner Caller, runAs *store.Identity, acct *identity.Account) (*api.Job, error) {
	ownHost := !h.opts.System && (runAs == nil || acct.UID == owner.UID)
	if err := loc.Check(req, ownHost); err != nil {
		return nil, err
	}
	p, err := h.admit.PlanScript(req)
	if err != nil {
		return nil, err
	}
	payload := p.Payload
	payload.Env = identity.JobEnv(owner, acct, false, req.Env, req.EnvAdd)
	payload.Umask = req.Umask
	j, err := loc.Submit(ctx, &remote.Submission{
		Owner: owner, User: acct.Name,
		Payload: payload, Entry: p.Entry,
		Name: p.Name, Type: p.Type, Command: p.Command,
		Workdir: req.Workdir, Constraint: req.RuntimeVersion, InstanceID: req.InstanceID,
		Slurm: req.Slurm, SSH: req.SSH, EnvAdd: req.EnvAdd,
	})
	if err == nil {
		admit.Tell(ctx, h.log, p.Notices)
	}
	return j, err
}

// Locations lists where jobs can run, and whether each can be reached now.
func (h *Host) Locations(ctx context.Context) []api.Location {
	out := []api.Location{{Name: api.LocationLocal, Kind: "local", Reachable: true,
		Detail: fmt.Sprintf("this machine (%s/%s)", runtime.GOOS, runtime.GOARCH)}}
	for _, l := range h.locations {
		out = append(out, l.Describe(ctx))
	}
	return out
}
