package host

import (
	"context"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/locations"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/store"
)

// ErrNoLocation: the location named cannot take jobs (not installed, not
// reachable, or it refused the request); the message carries its own.
var ErrNoLocation = errkind.ErrNoLocation

// startAt admits a job for location loc and hands it over: only scripts
// (BackgroundJob), run as whoever submits them.
func (h *Host) startAt(ctx context.Context, loc locations.Location, req *api.StartRequest, owner Caller, runAs *store.Identity, acct *identity.Account) (*api.Job, error) {
	ownHost := !h.opts.System && (runAs == nil || acct.UID == owner.UID)
	if err := loc.Check(req, ownHost); err != nil {
		return nil, err
	}
	p, err := h.admit.PlanScript(req, runAs)
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
func (h *Host) Locations(ctx context.Context) []api.Location { return h.locations.Describe(ctx) }
