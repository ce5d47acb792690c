package admit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

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
// A bad constraint is the caller's; a binary that fails its hash, is
// missing or cannot be read, or a catalog someone else could change, is a
// verification failure; anything else means no runtime matches.
func CatalogKind(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, catalog.ErrBadConstraint):
		return errkind.WithKind(errkind.ErrBadRequest, err)
	case errors.Is(err, catalog.ErrUnsafe), errors.Is(err, catalog.ErrTampered), errors.As(err, new(*catalog.OpenError)):
		return errkind.WithKind(errkind.ErrVerification, err)
	}
	return errkind.WithKind(catalog.ErrNoRuntime, err)
}

// verified opens e's binary, checked as catalog.OpenVerified opens it. e is
// what a lookup in the catalog found, or err why it found nothing. Start,
// restart and job types all come here, so that whatever is wrong gets the
// same kind (CatalogKind) in each. The caller closes the file.
func (a *Admitter) verified(e *catalog.Entry, err error) (*os.File, error) {
	if err != nil {
		return nil, CatalogKind(err)
	}
	bin, err := a.cfg.Catalog.OpenVerified(e)
	if err != nil {
		// Whatever the cause (changed, missing, unreadable, unsafe), the
		// binary failed verification, and CatalogKind says so.
		return nil, CatalogKind(&catalog.OpenError{Err: err})
	}
	return bin, nil
}

// Resolve finds the runtime name that satisfies constraint, built for
// goos/goarch, and verifies it. Restart resolves a job's runtime again
// with it, from the constraint the job was started with, so that a fixed
// runtime installed since is the one that runs.
func (a *Admitter) Resolve(name, constraint, goos, goarch string) (*catalog.Entry, error) {
	e, bin, err := a.open(name, constraint, goos, goarch)
	if err != nil {
		return nil, err
	}
	bin.Close()
	return e, nil
}

// open is Resolve, keeping the verified binary open for the caller (who
// closes it) to run.
func (a *Admitter) open(name, constraint, goos, goarch string) (*catalog.Entry, *os.File, error) {
	e, bin, err := a.cfg.Catalog.ResolveOpen(name, constraint, goos, goarch)
	if err != nil {
		return nil, nil, CatalogKind(err)
	}
	return e, bin, nil
}

// resolve finds and verifies the runtime a job asks for, built for the
// host's platform, or for its 32-bit sibling with runAs32. The newest
// version built for the architecture asked for wins, as without
// --run-as-32; the 32-bit and 64-bit builds installed may differ, so when
// the version picked is not the one the 64-bit build would be, notice says
// so (for the user to see: the two are expected to be the same version).
func (a *Admitter) resolve(name, constraint string, runAs32 bool) (e *catalog.Entry, notice string, err error) {
	if name == "" {
		name = "shell"
	}
	arch := runtime.GOARCH
	if runAs32 {
		a32, ok := catalog.Arch32(runtime.GOOS, arch)
		if !ok {
			return nil, "", errkind.Errorf(errkind.ErrBadRequest, "--run-as-32: this machine (%s/%s) has no 32-bit architecture bgjob knows to run", runtime.GOOS, arch)
		}
		arch = a32
	}
	e, bin, err := a.open(name, constraint, runtime.GOOS, arch)
	if err != nil {
		return nil, "", err
	}
	defer bin.Close()
	if !runAs32 {
		return e, "", nil
	}
	if err := a.probe32(e, bin); err != nil {
		return nil, "", err
	}
	return e, a.notice32(e, constraint), nil
}

// notice32 says, for e, the 32-bit build a job runs, which version the
// 64-bit build would have been when it is another; "" when it is the same
// (or there is no 64-bit build that matches).
func (a *Admitter) notice32(e *catalog.Entry, constraint string) string {
	n, err := a.cfg.Catalog.Resolve(e.Name, constraint, runtime.GOOS, runtime.GOARCH)
	if err != nil || n.Version == e.Version {
		return ""
	}
	wanted := "stable version"
	if c := strings.TrimSpace(constraint); c != "" {
		wanted = "version matching " + c
	}
	newer := n
	if e.SemVer.GreaterThan(n.SemVer) {
		newer = e
	}
	return fmt.Sprintf("--run-as-32: %s %s runs, the newest %s built for %s; the newest %s built for %s is %s. Install %s %s for both, or pin one version with --runtime-version, to run the same version either way",
		e.Name, e.Version, wanted, e.Arch, wanted, n.Arch, n.Version, e.Name, newer.Version)
}

// probe32 finds out, once, whether the kernel runs 32-bit programs, by
// running a 32-bit runtime's describe: on a kernel without the 32-bit ABI
// (IA-32 emulation off, say) --run-as-32 must fail with that reason before
// a job exists, not as an exec format error when the job starts. bin is
// e's binary as catalog.OpenVerified opened and checked it: the probe runs
// that file (catalog.Command), as the launcher does, never the path,
// which root would otherwise run after someone swapped it.
func (a *Admitter) probe32(e *catalog.Entry, bin *os.File) error {
	a.mu.Lock()
	known, ok := a.can32, a.can32Known
	a.mu.Unlock()
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := catalog.Command(ctx, bin, e.Path, "describe")
		err := cmd.Run()
		cancel()
		var ee *exec.ExitError
		switch {
		case err == nil || errors.As(err, &ee):
			// It ran (an exit status is the binary's business, which
			// verification and the launch report).
			known = true
		case isExecFormat(err):
			known = false
		default:
			return errkind.WithKind(catalog.ErrNoRuntime, fmt.Errorf("--run-as-32: cannot run %s to see whether this machine runs 32-bit programs: %w", e, err))
		}
		a.cfg.Log.Debug("probed whether the kernel runs 32-bit programs", "runtime", e.String(), "runs", known)
		a.mu.Lock()
		a.can32, a.can32Known = known, true
		a.mu.Unlock()
	}
	if !known {
		return errkind.Errorf(catalog.ErrNoRuntime, "--run-as-32: this machine's kernel does not run 32-bit (%s) programs (it has no %s/%s execution support, e.g. IA-32 emulation); run the job without --run-as-32", e.Arch, e.OS, e.Arch)
	}
	return nil
}
