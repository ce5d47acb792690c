package admit

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// DefaultDefinitionType is the type --definition-name means without
// --type: PowerShell's definitions are scheduled jobs'.
const DefaultDefinitionType = "ScheduledJob"

// ThreadJob is the type of a thread job (Start-ThreadJob), and
// DefaultThrottleLimit how many run at once unless the start says.
const (
	ThreadJob            = "ThreadJob"
	DefaultThrottleLimit = 5
)

// Plan is what a start request comes to: what the runtime process gets,
// which binary runs it, and how the job is shown.
type Plan struct {
	Payload *sdk.Job
	Entry   *catalog.Entry
	// Type is the job's PSJobTypeName; Name its default name (Job<Id> if
	// empty); Command the command shown.
	Type, Name, Command string
	// Workdir is where the job runs (a definition may say).
	Workdir string
	// Env is added to the job's environment before --env.
	Env []string
	// Definition names the stored definition the job comes from, and
	// Keep how many of its results stay (0: all).
	Definition string
	Keep       int
	// Throttle, for a thread job, is its throttle limit; Batch, for a
	// batch (start --foreach), how many of its children run at once.
	Throttle, Batch int
	// Group is the queue group the job runs in ("" for the default).
	Group string
	// Notices are what the user should hear about the plan though it
	// goes ahead (the 32-bit build runs another version than the 64-bit
	// one would): the start's answer says them.
	Notices []string
}

// PlanScript is a plain job's plan: a script in a runtime, its script
// files read with reader's access (nil: the host's; see identity.Reader).
func (a *Admitter) PlanScript(req *api.StartRequest, reader *store.Identity) (*Plan, error) {
	if req.DefinitionPath != "" {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "--definition-path goes with --definition-name")
	}
	payload, cmd, err := prepare(req, reader)
	if err != nil {
		return nil, err
	}
	entry, notice, err := a.resolve(req.Runtime, req.RuntimeVersion, req.RunAs32)
	if err != nil {
		return nil, err
	}
	if req.StdinOpen && !slices.Contains(entry.ServedProtocols(), sdk.ProtocolV2) {
		// Refused before the job exists: its input could never be sent.
		return nil, errkind.Errorf(errkind.ErrBadRequest, "the %s speaks only protocol 1, which has no input while a job runs: --stdin-open needs a runtime speaking protocol 2 (the shell runtime's 2.x line: --runtime-version '~2')", entry)
	}
	p := &Plan{Payload: payload, Entry: entry, Type: sdk.BackgroundJob, Name: req.Name, Command: cmd, Workdir: req.Workdir}
	p.notice(notice)
	if len(req.ForEach) > 0 {
		// A batch: --throttle-limit is its own, thread children or not.
		if req.ThrottleLimit < 0 {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "--throttle-limit %d: give how many child jobs may run at once, 1 or more", req.ThrottleLimit)
		}
		p.Batch = cmp.Or(req.ThrottleLimit, DefaultThrottleLimit)
		// Thread children unless asked otherwise: ForEach-Object
		// -Parallel runs its script blocks in runspaces of one process.
		// A runtime that cannot share a process runs them as processes,
		// as it would any job; only an explicit --thread is refused.
		switch err := threadable(entry); {
		case req.Thread && req.Processes:
			return nil, errkind.Errorf(errkind.ErrBadRequest, "--thread and --processes: a batch's children are one or the other; give one")
		case req.Processes:
		case err == nil:
			p.Type, p.Throttle = ThreadJob, p.Batch
		case req.Thread:
			return nil, err
		}
		return p, nil
	}
	if req.Thread || req.ThrottleLimit != 0 {
		if !req.Thread {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "--throttle-limit goes with --thread, --foreach or --computer-name")
		}
		if req.ThrottleLimit < 0 {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "--throttle-limit %d: give a positive number", req.ThrottleLimit)
		}
		if err := threadable(entry); err != nil {
			return nil, err
		}
		p.Type, p.Throttle = ThreadJob, req.ThrottleLimit
		if p.Throttle == 0 {
			p.Throttle = DefaultThrottleLimit
		}
	}
	return p, nil
}

// threadable refuses a runtime that cannot run thread jobs.
func threadable(entry *catalog.Entry) error {
	if !entry.Reusable || !slices.Contains(entry.ServedProtocols(), 2) {
		return errkind.Errorf(errkind.ErrBadRequest, "%s cannot run thread jobs: it does not run several jobs in one process (it must be reusable and speak protocol 2); start the job without --thread", entry)
	}
	return nil
}

// PlanTyped is a custom type's plan. The type's plugin runs the job
// itself, or, for a definition, says what to run and where: a definition
// may name a runtime, and then that runtime runs it as any script, shown
// as the type's job. A definition is resolved by the type's plugin, run as
// the job's user (it reads that user's files), before the job exists.
func (a *Admitter) PlanTyped(ctx context.Context, req *api.StartRequest, id *store.Identity) (*Plan, error) {
	typ := req.Type
	if typ == "" {
		typ = DefaultDefinitionType
	}
	switch {
	case req.Runtime != "" || req.RunAs32 || req.Thread:
		return nil, errkind.Errorf(errkind.ErrBadRequest, "a job of type %s runs where its type says: --runtime, --run-as-32 and --thread are for plain script jobs (--runtime-version picks the version of the type's plugin)", typ)
	case req.StdinOpen:
		return nil, errkind.Errorf(errkind.ErrBadRequest, "--stdin-open is for plain script jobs: a job of type %s takes no input while it runs", typ)
	case req.File != "" || req.LiteralPath != "" || req.Init != "" || req.InitFile != "":
		return nil, errkind.Errorf(errkind.ErrBadRequest, "a job of type %s takes arguments, not --file, --literal-path or --init", typ)
	case req.DefinitionPath != "" && req.DefinitionName == "":
		return nil, errkind.Errorf(errkind.ErrBadRequest, "--definition-path goes with --definition-name")
	}
	// --runtime-version pins the type's plugin, as it pins a runtime: a
	// definition's own runtime_version says which runtime runs it.
	entry, info, err := a.cfg.Catalog.ResolveType(typ, req.RuntimeVersion, runtime.GOOS, runtime.GOARCH)
	bin, err := a.verified(entry, err)
	if err != nil {
		return nil, err
	}
	bin.Close()
	typ = info.Name // as the plugin spells it: --type copy runs Copy
	p := &Plan{Entry: entry, Type: typ, Name: req.Name, Workdir: req.Workdir,
		Payload: &sdk.Job{Type: typ, Script: req.Script, Args: req.Args, Input: req.Input, MergeError: req.MergeError}}
	if req.DefinitionName == "" {
		if !info.Runs {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "the job type %s runs only from a stored definition: give --definition-name", typ)
		}
		p.Command = BoundCommand(strings.TrimSpace(typ + " " + strings.Join(req.Args, " ")))
		if req.Command != "" {
			p.Command = BoundCommand(req.Command)
		}
		return p, nil
	}
	if !info.Resolves {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "the job type %s has no stored definitions; start it without --definition-name", typ)
	}
	if !filepath.IsAbs(req.DefinitionPath) {
		return nil, errkind.Errorf(errkind.ErrBadRequest, "the definition path %q is not an absolute path", req.DefinitionPath)
	}
	var def *sdk.Definition
	err = a.WithTypePlugin(ctx, entry, id, req.Workdir, func(c protocol.TypeConn) error {
		var err error
		def, err = c.Resolve(ctx, &sdk.ResolveRequest{Type: typ, DefinitionName: req.DefinitionName,
			DefinitionPath: req.DefinitionPath, Args: req.Args, Workdir: req.Workdir})
		return err
	})
	if err != nil {
		return nil, err
	}
	return a.planDefinition(p, def)
}

// planDefinition completes p from a resolved definition.
func (a *Admitter) planDefinition(p *Plan, def *sdk.Definition) (*Plan, error) {
	p.Definition = def.Name
	p.Keep = int(def.Keep)
	if p.Name == "" {
		p.Name = def.Name
	}
	p.Command = BoundCommand(def.Command)
	if p.Command == "" {
		p.Command = BoundCommand(firstLine(def.Script))
	}
	p.Env = def.Env
	if def.Workdir != "" {
		p.Workdir = def.Workdir
	}
	p.Payload.Script, p.Payload.Args, p.Payload.Payload = def.Script, def.Args, def.Payload
	if def.Runtime == "" {
		if info, _ := p.Entry.JobType(p.Type); !info.Runs {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "the definition %s (%s) names no runtime, and the job type %s does not run jobs itself", def.Name, def.Source, p.Type)
		}
		return p, nil
	}
	// The definition runs as a script in a runtime: the runtime sees a
	// plain job.
	p.Payload.Type = ""
	entry, notice, err := a.resolve(def.Runtime, def.RuntimeVersion, def.RunAs_32)
	if err != nil {
		return nil, fmt.Errorf("the definition %s (%s): %w", def.Name, def.Source, err)
	}
	p.Entry = entry
	if notice != "" {
		p.notice(fmt.Sprintf("the definition %s (%s): %s", def.Name, def.Source, notice))
	}
	return p, nil
}

// notice adds n, if it says something, to p's notices.
func (p *Plan) notice(n string) {
	if n != "" {
		p.Notices = append(p.Notices, n)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// typeCallTimeout bounds one call to a type's plugin: a definition is a
// small file, and a plugin that takes longer is hung.
const typeCallTimeout = 30 * time.Second

// WithTypePlugin starts a process of the type plugin entry as id (nil: the
// host's user) in workdir, calls f with its connection, and ends it. The
// process is one of the launcher's, so it is verified, isolated and, as a
// spare, ready for the next call.
func (a *Admitter) WithTypePlugin(ctx context.Context, entry *catalog.Entry, id *store.Identity, workdir string, f func(protocol.TypeConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, typeCallTimeout)
	defer cancel()
	logPath := filepath.Join(a.cfg.JobsDir, "type-"+api.NewInstanceID()+".runtime.log")
	var ident launch.Identity
	if id != nil {
		ident = launch.Identity{UID: id.UID, GID: id.GID, Groups: id.Groups}
	}
	proto, _ := protocol.Best(entry.ServedProtocols())
	spec := &launch.Spec{Identity: ident, Binary: entry.Path, SHA256: entry.SHA256, Protocol: proto,
		OS: entry.OS, Arch: entry.Arch, Name: entry.Name, Version: entry.Version, Workdir: workdir,
		LogFile: logPath}
	p, err := a.cfg.Launcher.Launch(ctx, spec)
	if err != nil {
		os.Remove(logPath)
		return errkind.WithKind(catalog.ErrNoRuntime, fmt.Errorf("cannot start %s: %w", entry, err))
	}
	defer func() {
		// Kept for the next call, if the plugin is reusable.
		if r, ok := p.(launch.Recycler); !ok || !r.Recycle() {
			p.Release()
		}
		os.Remove(logPath)
	}()
	c, ok := p.Conn().(protocol.TypeConn)
	if !ok {
		return errkind.WithKind(catalog.ErrNoRuntime, fmt.Errorf("%s speaks a protocol without job types", entry))
	}
	if err := f(c); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s did not answer within %v: %w", entry, typeCallTimeout, err)
		}
		return errkind.WithKind(errkind.ErrBadRequest, err)
	}
	return nil
}
