package admit

import (
	"errors"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/store"
)

// RuntimeOf is how a row names the runtime e, speaking the newest protocol
// both it and this host do.
func RuntimeOf(e *catalog.Entry) api.Runtime {
	wire, _ := protocol.Best(e.ServedProtocols())
	return api.Runtime{Name: e.Name, Version: e.Version, OS: e.OS, Arch: e.Arch, Protocol: wire, Path: e.Path}
}

// EntrySpec is the binary a job of runtime e runs.
func EntrySpec(e *catalog.Entry) store.Spec { return store.Spec{Runtime: e.Path, SHA256: e.SHA256} }

// CatalogKind gives an error from the catalog (resolving, verifying,
// opening a runtime or job type) its kind: one mapping for start, restart
// and job types, so that the same failure exits the same way everywhere.
// A bad constraint is the caller's; a binary that fails its hash or a
// catalog someone else could change is a verification failure; anything
// else means no runtime matches.
func CatalogKind(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, catalog.ErrBadConstraint):
		return errkind.WithKind(errkind.ErrBadRequest, err)
	case errors.Is(err, catalog.ErrUnsafe), errors.Is(err, catalog.ErrTampered):
		return errkind.WithKind(errkind.ErrVerification, err)
	}
	return errkind.WithKind(catalog.ErrNoRuntime, err)
}
