package host

import (
	"context"
	"runtime"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/internal/triggers"
	"github.com/bgjob/bgjob/sdk"
)

// The host fires the triggers of the stored definitions in its user's
// definition directory; package internal/triggers is that schedule. What
// it needs of the host is given here: which installed types list
// definitions and a plugin of each to ask, how a job starts (as the
// host's user, as `bgjob start --type T --definition-name N` would), and
// the job table's last run of a definition.

// startTriggers starts the schedule of the definitions in dir.
func (h *Host) startTriggers(dir string) {
	listers := func() ([]triggers.Lister, error) {
		types, err := h.catalog.Types()
		if err != nil {
			return nil, err
		}
		var ls []triggers.Lister
		for _, typ := range types {
			e, info, err := h.catalog.ResolveType(typ, "", runtime.GOOS, runtime.GOARCH)
			if err != nil || !info.Lists {
				continue
			}
			ls = append(ls, triggers.Lister{Type: typ, Definitions: func(ctx context.Context, dir string) (defs []*sdk.Definition, problems []string, err error) {
				err = h.admit.WithTypePlugin(ctx, e, nil, "/", func(c protocol.TypeConn) error {
					var err error
					defs, problems, err = c.Definitions(ctx, typ, dir)
					return err
				})
				return defs, problems, err
			}})
		}
		return ls, nil
	}
	start := func(ctx context.Context, req *api.StartRequest) error {
		_, err := h.Start(WithCaller(ctx, h.self), req)
		return err
	}
	user := func() (triggers.User, error) {
		acct, err := identity.LookupAccount(h.self.Name)
		if err != nil {
			return triggers.User{}, err
		}
		return triggers.User{Name: acct.Name, Home: acct.Home, Shell: acct.Shell}, nil
	}
	// lastRun is when the host's user's newest run of a definition started.
	lastRun := func(typ, name string) *time.Time { return h.t.LastRun(h.self.UID, typ, name) }
	running := func(typ, name string) bool { return h.t.RunGoing(h.self.UID, typ, name) }
	h.trig = triggers.New(triggers.Config{Dir: dir, Ctx: h.t.Ctx(), Go: h.t.Go, Log: h.log, State: h.home.Store,
		Listers: listers, Start: start, User: user, LastRun: lastRun, Running: running})
}

// Definitions answers `bgjob definition ...`. The definitions are the
// host's user's, so on a system host only root may use them.
func (h *Host) Definitions(ctx context.Context, req *api.DefinitionRequest) (*api.Definitions, error) {
	c := h.caller(ctx)
	if c.UID != h.self.UID && !c.Root() {
		return nil, errorf(ErrBadRequest, "this system host schedules only its own user's definitions; run your own host for yours (bgjob without --system and BGJOB_SOCKET)")
	}
	if h.trig == nil {
		return nil, errorf(ErrBadRequest, "this host schedules no definitions (it was started without a definition directory)")
	}
	return h.trig.Definitions(ctx, req)
}
