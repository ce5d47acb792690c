package admit

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/store"
	"github.com/hashicorp/go-hclog"
)

// Config is what admission needs of the host.
type Config struct {
	// Catalog is where runtimes and job types are resolved and verified.
	Catalog *catalog.Catalog
	// Launcher starts the type plugins that resolve definitions.
	Launcher launch.Launcher
	// JobsDir is where a type plugin's runtime log goes while it runs.
	JobsDir string
	// Log receives what admission finds out about the machine; nil
	// discards it.
	Log hclog.Logger
}

// Admitter turns requests into plans. All its methods are safe for
// concurrent use.
type Admitter struct {
	cfg Config

	// mu guards what follows.
	mu sync.Mutex
	// can32 is whether the kernel runs 32-bit programs, once can32Known.
	can32, can32Known bool
}

// New returns an Admitter with cfg.
func New(cfg Config) *Admitter {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	return &Admitter{cfg: cfg}
}

// Plan is a start request's plan on this host, for a job run as runAs
// (nil: the host's user), account acct: a script's (PlanScript, its files
// read with reader's access) or a custom type's (PlanTyped). A definition
// may move the job to a working directory of its own, which must do as
// the request's did.
func (a *Admitter) Plan(ctx context.Context, req *api.StartRequest, runAs, reader *store.Identity, acct *identity.Account) (*Plan, error) {
	if err := jobs.CheckLater(req); err != nil {
		return nil, err
	}
	var p *Plan
	var err error
	if req.Typed() {
		p, err = a.PlanTyped(ctx, req, runAs)
	} else {
		p, err = a.PlanScript(req, reader)
	}
	if err != nil {
		return nil, err
	}
	if p.Workdir != req.Workdir {
		if err := CheckDir(p.Workdir, runAs); err != nil {
			return nil, fmt.Errorf("the definition %s: %w", p.Definition, err)
		}
		if err := identity.CheckWorkdir(acct, runAs, p.Workdir); err != nil {
			return nil, err
		}
	}
	if p.Group, err = jobs.CheckGroup(req.Group); err != nil {
		return nil, err
	}
	if p.Group != "" && p.Throttle > 0 {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "--group goes with process jobs: a thread job's limit is its --throttle-limit")
	}
	return p, nil
}

// CheckRequest checks what a start request says on its face: its name,
// the names of the variables it adds, options that need others. The CLI
// checks these too; a request from elsewhere is not trusted.
func CheckRequest(req *api.StartRequest) error {
	if err := api.CheckName(req.Name); err != nil {
		return errkind.Errorf(errkind.ErrBadRequest, "%w", err)
	}
	for _, kv := range req.EnvAdd {
		if err := api.CheckEnvName(kv); err != nil {
			return errkind.Errorf(errkind.ErrBadRequest, "%w", err)
		}
	}
	if req.AfterAnyState && len(req.After) == 0 {
		return errkind.Errorf(errkind.ErrBadRequest, "--after-any-state goes with --after")
	}
	if len(req.ForEach) > 0 {
		return checkForEach(req)
	}
	if req.Processes {
		return errkind.Errorf(errkind.ErrBadRequest, "--processes says how a batch's children run; it goes with --foreach (a job without --thread runs in a process already)")
	}
	return nil
}

// checkForEach refuses what does not go with a batch (start --foreach):
// its children are scripts run on this machine, limited by the batch's own
// --throttle-limit.
func checkForEach(req *api.StartRequest) error {
	switch loc := strings.ToLower(req.Location); {
	case loc != "" && loc != api.LocationLocal:
		// Not a job array: the Slurm location refuses --array, whose
		// indexes it would follow as one run.
		return errkind.Errorf(errkind.ErrBadRequest, "--foreach runs its child jobs on this machine; it does not go with --location %s (start a job there per item)", req.Location)
	case req.Typed():
		return errkind.Errorf(errkind.ErrBadRequest, "--foreach runs a script once per item; it does not go with --type or --definition-name")
	case req.Group != "":
		return errkind.Errorf(errkind.ErrBadRequest, "--foreach limits its child jobs with --throttle-limit, not a queue group; --group does not go with it")
	}
	return nil
}
