// Package restart runs finished jobs again (pueue's restart, PowerShell has
// none): each gets what it was given (script, arguments, input, working
// directory, environment, user, group, priority, dependencies; a script
// read from a file as it was read then), and its runtime is resolved again
// from its constraint, so a fixed runtime installed since is the one that
// runs. Each is a new job (a new id, the same name), or in place its own
// row runs again and its old records go.
package restart

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/sdk"
)

// Restarter restarts jobs of its table: its admitter resolves each job's
// runtime again, its resolver says whom it runs as.
type Restarter struct {
	Table *jobs.Table
	Admit *admit.Admitter
	IDs   *identity.Resolver
}

// Restart runs again the finished jobs sel and opts select for c, and
// returns the ids they run as. With a state option the jobs are those
// (named, or all) in that state, and selecting none is no error.
func (r *Restarter) Restart(c identity.Caller, sel []string, req *api.RestartRequest, opts []jobs.SelectOption) ([]string, error) {
	if req.AfterAnyState && req.After == nil {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "--after-any-state goes with --after")
	}
	if req.RequestID != "" && !api.ValidInstanceID(req.RequestID) {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "the restart's request id %q is not a UUID in lower case", req.RequestID)
	}
	t := r.Table
	t.Lock()
	js, err := t.SelectFiltered(c, sel, opts)
	var done []string
	if err == nil {
		js, done = t.RestartedAlreadyLocked(c, js, req.RequestID)
	}
	t.Unlock()
	if err != nil || len(js)+len(done) == 0 {
		return nil, err
	}
	if req.Script != nil && len(js)+len(done) != 1 {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "--edit restarts one job; %d are selected", len(js)+len(done))
	}
	if err := t.Restartable(js); err != nil {
		return nil, err
	}
	ids := done
	// Jobs restarted together keep their chain: a job after another that
	// is restarted with it now runs after the new one (restart --state
	// Failed of A -> B -> C, B failed and C never ran: the new C waits for
	// the new B, not for the B that failed). js is in id order, which is
	// the order a chain is made in.
	renamed := map[uint64]uint64{}
	for _, j := range js {
		id, err := r.one(c, j, req, renamed)
		if err != nil {
			return nil, err
		}
		renamed[j.Row.ID] = id
		ids = append(ids, strconv.FormatUint(id, 10))
	}
	return ids, nil
}

// one runs finished job j again and returns the id it runs as; a job it
// ran after that is renamed (restarted in the same call) it now runs after
// the new one.
func (r *Restarter) one(c identity.Caller, j *jobs.Job, req *api.RestartRequest, renamed map[uint64]uint64) (uint64, error) {
	t := r.Table
	t.Lock()
	old := j.Row
	t.Unlock()
	// Whom it runs as: the same user, which takes their password again
	// unless that is the caller, or the caller is root.
	cred := ""
	if old.User != c.Name {
		cred = old.User
	}
	runAs, acct, err := r.IDs.RunAs(c, &api.StartRequest{Credential: cred, Password: req.Password})
	if err != nil {
		return 0, fmt.Errorf("job %d ran as %s: %w", old.ID, old.User, err)
	}
	again, err := r.Admit.Again(&old, acct, runAs, func() (*sdk.Job, error) { return t.Payload(&old) }, req.Script)
	if err != nil {
		return 0, err
	}
	after, anyState := old.After, old.AfterAnyState
	if req.After != nil {
		self := uint64(0)
		if req.InPlace {
			self = old.ID
		}
		t.Lock()
		after, err = t.AfterLocked(c, req.After, self)
		t.Unlock()
		if err != nil {
			return 0, err
		}
		anyState = req.AfterAnyState
	} else if len(renamed) > 0 {
		after = slices.Clone(after)
		for i, id := range after {
			if n, ok := renamed[id]; ok {
				after[i] = n
			}
		}
	}
	row := jobs.NewRow(c, acct.Name, runAs, again.Spec, again.Runtime, old.PSJobTypeName, again.Command, old.Workdir)
	row.ThrottleLimit, row.Constraint, row.Timeout, row.Retries, row.RetryDelay = old.ThrottleLimit, old.Constraint, old.Timeout, old.Retries, old.RetryDelay
	row.Definition, row.After, row.AfterAnyState, row.Group, row.Priority, row.OnEnd = old.Definition, after, anyState, old.Group, old.Priority, old.OnEnd
	row.RestartID, row.RestartOf, row.StdinOpen = req.RequestID, old.ID, old.StdinOpen
	if !req.InPlace {
		v, err := t.Create(row, again.Payload, old.Name)
		if err != nil {
			return 0, err
		}
		return v.ID, nil
	}
	// Still the job of whoever started it (root may restart it).
	row.OwnerUID, row.Owner = old.OwnerUID, old.Owner
	return old.ID, t.RestartInPlace(j, row, again.Payload)
}
