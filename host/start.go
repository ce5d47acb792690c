package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/sdk"
)

// MaxInput bounds a job's input: see api.MaxInput for why.
const MaxInput = api.MaxInput

// Start creates a job and queues it; it returns the job's row. Everything
// that can be wrong with the request (working directory, script file,
// version constraint, runtime) is reported here, before a job exists.
func (h *Host) Start(ctx context.Context, req *api.StartRequest) (*api.Job, error) {
	owner := h.caller(ctx)
	// The CLI checks these too; a request from elsewhere is not trusted.
	if err := api.CheckName(req.Name); err != nil {
		return nil, errorf(ErrBadRequest, "%w", err)
	}
	for _, kv := range req.EnvAdd {
		if err := api.CheckEnvName(kv); err != nil {
			return nil, errorf(ErrBadRequest, "%w", err)
		}
	}
	if req.InstanceID != "" {
		// A start sent again (its answer was lost with a host): the
		// job it made, rather than a second one.
		if view, ok, err := h.t.StartedAlready(owner, req.InstanceID); ok || err != nil {
			return view, err
		}
	}
	if err := checkDir(req.Workdir); err != nil {
		return nil, err
	}
	// Whom the job runs as, and whether the caller may have that; the
	// password is checked here and goes no further.
	runAs, acct, err := h.ids.RunAs(owner, req)
	req.Password = ""
	if err != nil {
		return nil, err
	}
	if err := identity.CheckWorkdir(acct, runAs, req.Workdir); err != nil {
		return nil, err
	}
	loc, err := h.checkLocation(req)
	if err != nil {
		return nil, err
	}
	if loc != nil {
		return h.startAt(ctx, loc, req, owner, runAs, acct)
	}
	var p *plan
	if typed(req) {
		p, err = h.planTyped(ctx, req, runAs)
	} else {
		p, err = h.planScript(req)
	}
	if err != nil {
		return nil, err
	}
	if p.workdir != req.Workdir {
		if err := checkDir(p.workdir); err != nil {
			return nil, fmt.Errorf("the definition %s: %w", p.definition, err)
		}
		if err := identity.CheckWorkdir(acct, runAs, p.workdir); err != nil {
			return nil, err
		}
	}
	group, err := jobs.CheckGroup(req.Group)
	if err != nil {
		return nil, err
	}
	if group != "" && p.throttle > 0 {
		return nil, errorf(ErrBadRequest, "--group goes with process jobs: a thread job's limit is its --throttle-limit")
	}
	if req.AfterAnyState && len(req.After) == 0 {
		return nil, errorf(ErrBadRequest, "--after-any-state goes with --after")
	}
	var after []uint64
	if len(req.After) > 0 {
		h.t.Lock()
		after, err = h.t.AfterLocked(owner, req.After, 0)
		h.t.Unlock()
		if err != nil {
			return nil, err
		}
	}
	payload := p.payload
	payload.Env = identity.JobEnv(owner, acct, h.opts.System, req.Env, append(slices.Clone(p.env), req.EnvAdd...))
	payload.Umask = req.Umask
	if acct.UID != owner.UID {
		other := uint32(0o022) // a login's usual mask, not the caller's
		payload.Umask = &other
	}
	entry := p.entry
	// The protocol the job will speak: the newest both the runtime and
	// this host do (the catalog admits no runtime without one).
	r := jobs.NewRow(owner, acct.Name, runAs, admit.EntrySpec(entry), admit.RuntimeOf(entry), p.typ, p.cmd, p.workdir)
	if req.InstanceID != "" {
		r.InstanceID = req.InstanceID
	}
	r.ThrottleLimit, r.Constraint = p.throttle, req.RuntimeVersion
	r.Definition, r.After, r.AfterAnyState, r.Group = p.definition, after, req.AfterAnyState, group
	view, err := h.t.Create(r, payload, p.name)
	if err != nil {
		return nil, err
	}
	if p.keep > 0 {
		h.t.Prune(r.OwnerUID, r.PSJobTypeName, r.Definition, p.keep)
	}
	return view, nil
}

// checkDir checks that dir can be a job's working directory.
func checkDir(dir string) error {
	if dir == "" {
		return errorf(ErrBadRequest, "no working directory given")
	}
	if !filepath.IsAbs(dir) {
		return errorf(ErrBadRequest, "the working directory %q is not an absolute path", dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errorf(ErrBadRequest, "the working directory %s does not exist", dir)
	case err != nil:
		return errorf(ErrBadRequest, "cannot use the working directory: %w", err)
	case !fi.IsDir():
		return errorf(ErrBadRequest, "the working directory %s is not a directory", dir)
	}
	return nil
}

// prepare checks a script request and reads the files it names.
func (h *Host) prepare(req *api.StartRequest) (*sdk.Job, string, error) {
	var err error
	if len(req.Input) > MaxInput {
		return nil, "", errorf(ErrBadRequest, "the job's input is %d bytes; at most %d (64 MiB) are accepted: give the job a path to read instead", len(req.Input), MaxInput)
	}
	sp := &sdk.Job{Args: req.Args, Input: req.Input, Script: req.Script, Init: req.Init}
	sources := 0
	for _, s := range []string{req.Script, req.File, req.LiteralPath} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return nil, "", errorf(ErrBadRequest, "give exactly one of a script, --file or --literal-path")
	}
	cmd := req.Script
	switch {
	case req.File != "":
		path, err := globOne(req.File, req.Workdir)
		if err != nil {
			return nil, "", err
		}
		if sp.Script, err = readScript(path); err != nil {
			return nil, "", err
		}
		cmd = path
	case req.LiteralPath != "":
		path := absIn(req.LiteralPath, req.Workdir)
		if sp.Script, err = readScript(path); err != nil {
			return nil, "", err
		}
		cmd = path
	}
	if req.Init != "" && req.InitFile != "" {
		return nil, "", errorf(ErrBadRequest, "give --init or --init-file, not both")
	}
	if req.InitFile != "" {
		if sp.Init, err = readScript(absIn(req.InitFile, req.Workdir)); err != nil {
			return nil, "", err
		}
	}
	// The command is the script text (or its file), never its arguments,
	// as PowerShell's Command property is; get --command matches it.
	if req.Command != "" {
		cmd = req.Command
	}
	return sp, boundCommand(cmd), nil
}

// maxCommand bounds the command a row shows: an inline script of any size
// runs whole, but its row keeps the first 64 KiB of it for display.
const maxCommand = 64 << 10

func boundCommand(cmd string) string {
	if len(cmd) <= maxCommand {
		return cmd
	}
	cut := maxCommand
	for cut > 0 && !utf8.RuneStart(cmd[cut]) {
		cut--
	}
	return cmd[:cut] + " …"
}

func absIn(path, dir string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// globOne expands pattern (relative to dir) and insists on one match, as
// Start-Job -FilePath does.
func globOne(pattern, dir string) (string, error) {
	full := absIn(pattern, dir)
	matches, err := filepath.Glob(full)
	if err != nil {
		return "", errorf(ErrBadRequest, "bad --file pattern %q: %w", pattern, err)
	}
	switch len(matches) {
	case 0:
		return "", errorf(ErrBadRequest, "no file matches %s", full)
	case 1:
		return matches[0], nil
	default:
		if len(matches) > 5 {
			matches = append(matches[:5], "...")
		}
		return "", errorf(ErrBadRequest, "--file %s matches %d files (%s); it must match exactly one, or use --literal-path", pattern, len(matches), strings.Join(matches, ", "))
	}
}

// readScript reads a script file, which must be a regular file: a named
// pipe or a device would block the call (and hold the caller's output open)
// for as long as nothing writes to it. The file is opened without blocking
// and checked as opened, so swapping in a pipe after a check changes
// nothing.
func readScript(path string) (string, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", errorf(ErrBadRequest, "the script file %s does not exist", path)
		}
		return "", errorf(ErrBadRequest, "cannot read the script file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", errorf(ErrBadRequest, "cannot read the script file: %w", err)
	}
	switch {
	case fi.IsDir():
		return "", errorf(ErrBadRequest, "the script file %s is a directory", path)
	case !fi.Mode().IsRegular():
		return "", errorf(ErrBadRequest, "the script file %s is %s, not a regular file; give a file, or pass the script inline", path, fileKind(fi.Mode()))
	case fi.Size() > MaxScript:
		return "", errorf(ErrBadRequest, "the script file %s has %d bytes; at most %d are accepted", path, fi.Size(), MaxScript)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxScript+1))
	if err != nil {
		return "", errorf(ErrBadRequest, "cannot read the script file: %w", err)
	}
	return string(b), nil
}

// MaxScript bounds a script file.
const MaxScript = 16 << 20

// resolve finds and verifies the runtime a job asks for, built for the
// host's platform, or for its 32-bit sibling with runAs32.
func (h *Host) resolve(name, constraint string, runAs32 bool) (*catalog.Entry, error) {
	if name == "" {
		name = "shell"
	}
	arch := runtime.GOARCH
	if runAs32 {
		a, ok := catalog.Arch32(arch)
		if !ok {
			return nil, errorf(ErrBadRequest, "--run-as-32: this machine (%s/%s) has no 32-bit architecture bgjob knows to run", runtime.GOOS, arch)
		}
		arch = a
	}
	e, err := h.catalog.Resolve(name, constraint, runtime.GOOS, arch)
	if err != nil {
		return nil, admit.CatalogKind(err)
	}
	bin, err := h.catalog.OpenVerified(e)
	if err != nil {
		return nil, withKind(ErrVerification, err)
	}
	defer bin.Close()
	if runAs32 {
		if err := h.probe32(e, bin); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// probe32 finds out, once, whether the kernel runs 32-bit programs, by
// running a 32-bit runtime's describe: on a kernel without the 32-bit ABI
// (IA-32 emulation off, say) --run-as-32 must fail with that reason before
// a job exists, not as an exec format error when the job starts. bin is
// e's binary as catalog.OpenVerified opened and checked it: the probe runs
// that file (catalog.ExecPath), as the launcher does, never the path,
// which root would otherwise run after someone swapped it.
func (h *Host) probe32(e *catalog.Entry, bin *os.File) error {
	h.t.Lock()
	known, ok := h.can32, h.can32Known
	h.t.Unlock()
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, catalog.ExecPath(bin, e.Path), "describe")
		cmd.Args[0] = e.Path
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
			return withKind(ErrNoRuntime, fmt.Errorf("--run-as-32: cannot run %s to see whether this machine runs 32-bit programs: %w", e, err))
		}
		h.t.Lock()
		h.can32, h.can32Known = known, true
		h.t.Unlock()
	}
	if !known {
		return errorf(ErrNoRuntime, "--run-as-32: this machine's kernel does not run 32-bit (%s) programs (it has no %s/%s execution support, e.g. IA-32 emulation); run the job without --run-as-32", e.Arch, e.OS, e.Arch)
	}
	return nil
}

// fileKind names a file type for messages.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
