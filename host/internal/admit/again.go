package admit

import (
	"fmt"
	"slices"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// Again is what a finished job runs as when it is restarted.
type Again struct {
	// Payload is what the job was given (the script replaced, for
	// restart --edit); Command the command its row shows.
	Payload *sdk.Job
	Command string
	// Spec and Runtime are what runs it: a script job's runtime resolved
	// again from the constraint it was started with, so a fixed runtime
	// installed since is the one that runs; a custom type's plugin the one
	// it ran on (verified as it starts).
	Spec    store.Spec
	Runtime api.Runtime
}

// Again admits finished job old to run again as runAs (acct): its working
// directory must still be there and theirs to enter, and its runtime must
// still resolve. payload reads what it was given; script, if not nil,
// replaces its script.
func (a *Admitter) Again(old *store.Row, acct *identity.Account, runAs *store.Identity, payload func() (*sdk.Job, error), script *string) (*Again, error) {
	if err := CheckDir(old.Workdir, runAs); err != nil {
		return nil, fmt.Errorf("job %d cannot run again: %w", old.ID, err)
	}
	if err := identity.CheckWorkdir(acct, runAs, old.Workdir); err != nil {
		return nil, err
	}
	p, err := payload()
	if err != nil {
		return nil, fmt.Errorf("job %d cannot run again: %w", old.ID, err)
	}
	// What the row says about the job is the new row's to say.
	p.Id, p.InstanceId, p.Name, p.Workdir, p.Command = 0, "", "", "", ""
	ag := &Again{Payload: p, Command: old.Command, Spec: *old.Spec, Runtime: old.Runtime}
	if script != nil {
		p.Script = *script
		ag.Command = BoundCommand(*script)
	}
	if old.PSJobTypeName == sdk.BackgroundJob || old.PSJobTypeName == ThreadJob {
		e, err := a.Resolve(old.Runtime.Name, old.Constraint, old.Runtime.OS, old.Runtime.Arch)
		if err != nil {
			return nil, fmt.Errorf("job %d cannot run again: %w", old.ID, err)
		}
		if p.StdinOpen && !slices.Contains(e.ServedProtocols(), sdk.ProtocolV2) {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "job %d cannot run again: it was started with --stdin-open, and the %s its constraint picks now speaks only protocol 1, which has no input", old.ID, e)
		}
		ag.Spec, ag.Runtime = EntrySpec(e), RuntimeOf(e)
	}
	return ag, nil
}
