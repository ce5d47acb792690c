package sdk

import (
	"context"
	"fmt"
	"regexp"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
)

// BackgroundJob is the type of a plain job: a script run in a runtime. It
// is built into bgjob; no plugin may claim it.
const BackgroundJob = "BackgroundJob"

// Definition is a stored job of a custom type and what it resolves to: a
// Resolver returns one for `bgjob start --definition-name`, a Lister lists
// them for the host's scheduler and `bgjob definition list`. Its fields:
//
//   - Name: the definition's name: the job's name unless --name says
//     otherwise, and what Keep counts by.
//   - Source: where it is written (a file, or file:line), for messages.
//   - Runtime, RuntimeVersion, RunAs_32: where the job runs. Empty Runtime:
//     the type's own plugin runs it (the type must be a Runtime), as a job
//     of the type, given Payload. Else the runtime of that name, its
//     newest version matching RuntimeVersion (a semver constraint; empty:
//     the newest stable), its 32-bit build if RunAs_32, runs Script as a
//     plain job, shown as the type's job.
//   - Script: what that runtime runs.
//   - Payload: any bytes the type's own Run understands; they arrive as
//     Job.Payload, untouched.
//   - Args: the job's arguments (Job.Args).
//   - Env: KEY=VALUE added to the job's environment (before --env).
//   - Workdir: the job's working directory; empty: the start request's.
//   - Command: the command the job table shows, and Job.Command (empty:
//     the script's first line).
//   - Triggers: cron expressions (an optional leading seconds field) on
//     which the host starts the definition, if the type is a Lister.
//   - Keep: how many of its jobs' results stay (0: every one).
//   - CatchUp: a run missed while no host ran is made up once.
//   - Disabled: the triggers are off.
type Definition = pb.Definition

// ResolveRequest asks a type for one of its definitions: Type, the
// definition's DefinitionName and DefinitionPath (its directory,
// absolute), and the Args and Workdir of the start request.
type ResolveRequest = pb.ResolveRequest

// JobType is a custom job type a plugin serves, as a PowerShell module adds
// job types (scheduled jobs, workflows) for Start-Job -Type. One plugin may
// serve several.
//
// A JobType only names itself; what it can do is the small interfaces it
// also implements, each optional:
//
//   - Runtime: it runs jobs of its type in the plugin. Run gets the job with
//     Type set to the type's name (and Payload, Args and the rest from the
//     start request or the definition), and emits records as any runtime
//     does: numbering, batching, acknowledgement and reattach are the SDK's.
//   - Resolver: it has stored definitions, which `bgjob start --type T
//     --definition-name N` turns into a job.
//   - Lister: it lists the definitions in a directory with their triggers,
//     so the host can fire them and `bgjob definition list` show them.
//
// A type that is none of these can be installed but never run.
type JobType interface {
	TypeName() string
}

// Resolver is a JobType with stored definitions. Resolve finds the
// definition req names in req.DefinitionPath and says what to run; its
// error is shown to the user as it is, so it should name the file and what
// is wrong.
type Resolver interface {
	Resolve(ctx context.Context, req *ResolveRequest) (*Definition, error)
}

// Lister is a JobType whose definitions the host may schedule. Definitions
// reads every definition of the type in dir; what it cannot read it reports
// as problems, one error per thing wrong ("file:line:column: what"), and
// the rest still count.
type Lister interface {
	Definitions(ctx context.Context, dir string) (defs []*Definition, problems []error)
}

// TypeInfo is what a plugin's description says about one of its job types.
type TypeInfo struct {
	Name     string `json:"name"`
	Runs     bool   `json:"runs,omitempty"`
	Resolves bool   `json:"resolves,omitempty"`
	Lists    bool   `json:"lists,omitempty"`
}

// typeName is what a type's name may be: a word, as PowerShell's type names
// are, so that it reads in a table column and on a command line.
var typeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// CheckTypeName reports whether name may be a custom job type's name.
func CheckTypeName(name string) error {
	switch {
	case name == BackgroundJob:
		return fmt.Errorf("the job type name %q is bgjob's own (plain script jobs)", name)
	case !typeName.MatchString(name):
		return fmt.Errorf("the job type name %q is not a word of letters, digits, '_', '.' and '-' starting with a letter (at most 64)", name)
	}
	return nil
}

// typeInfo describes t.
func typeInfo(t JobType) TypeInfo {
	_, runs := t.(Runtime)
	_, resolves := t.(Resolver)
	_, lists := t.(Lister)
	return TypeInfo{Name: t.TypeName(), Runs: runs, Resolves: resolves, Lists: lists}
}
