// Package scheduled is the ScheduledJob job type: jobs defined once in
// hand-written HCL files and started by name (`bgjob start --type
// ScheduledJob --definition-name NAME`) or by the host when one of their
// cron triggers fires, as PowerShell's PSScheduledJob module adds scheduled
// jobs to Start-Job.
//
// The type only reads definitions; it does not run jobs. A definition says
// which runtime runs its script (by default the shell runtime) and the host
// starts the job there, so a scheduled job is an ordinary background job
// once it has started.
//
// # Definitions
//
// The definitions are the *.hcl files directly in a directory (not below
// it; hidden files and other files are ignored). Each file holds job
// blocks:
//
//	job "Backup" {
//	  script          = "rsync -a ~/docs /backup"  # or script_file = "backup.sh"
//	  args            = ["a", "b"]
//	  runtime         = "shell"
//	  runtime_version = "~2.0"
//	  run_as_32       = false
//	  workdir         = "/srv"
//	  env             = { KEY = "value" }
//	  keep            = 32
//	  catch_up        = true
//	  enabled         = true
//	  triggers        = ["0 3 * * *", "*/10 * * * * *", "@hourly"]
//	}
//
// Exactly one of script and script_file is required; everything else is
// optional. Relative paths (script_file, workdir) are relative to the
// directory of the file that names them. Strings are hcl templates: write
// $${VAR} for a literal ${VAR} and %%{ for %{. No variables or functions are
// available: a definition is data.
//
// A job block with any problem is not defined, so that nothing half-valid
// runs; the other jobs, in its file and elsewhere, still are. A file hcl
// cannot parse (a syntax error) defines none of its jobs. Each problem is
// reported as "FILE:LINE:COLUMN: summary: detail", with `job "NAME": `
// before the summary when it is in a job block.
package scheduled

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bgjob/bgjob/sdk"
	"golang.org/x/text/unicode/norm"
)

// Name is the job type's name.
const Name = "ScheduledJob"

// Type is the ScheduledJob job type: a Resolver and a Lister, not a
// Runtime (its jobs run in the runtime their definitions name). It keeps no
// state: every call reads the directory afresh, so an edit to a definition
// counts from the next call on without a reload.
type Type struct{}

// New returns the ScheduledJob type.
func New() *Type { return &Type{} }

var (
	_ sdk.JobType  = (*Type)(nil)
	_ sdk.Resolver = (*Type)(nil)
	_ sdk.Lister   = (*Type)(nil)
)

// TypeName is "ScheduledJob".
func (*Type) TypeName() string { return Name }

// Definitions returns every valid definition in dir and one error per
// problem. A missing dir has no definitions and no problems: it is what a
// user who never wrote one has.
//
// A script_file is not read here: the listing is for scheduling and
// showing jobs, and a script file that is missing or unreadable now may be
// there when the job fires (a mounted volume, a file a deploy puts in
// place). It is read by Resolve, when a job starts, which is where its
// absence is an error; so the host should start a fired job through
// Resolve, which also picks up the script file's current contents. Until
// then such a definition's Script is empty and its Command is the
// script_file as written.
func (*Type) Definitions(ctx context.Context, dir string) ([]*sdk.Definition, []error) {
	l := load(ctx, dir)
	defs := make([]*sdk.Definition, 0, len(l.valid))
	for _, e := range l.valid {
		defs = append(defs, e.def)
	}
	return defs, l.problems
}

// Resolve returns the one definition in req.DefinitionPath whose name
// matches req.DefinitionName, a wildcard pattern in path.Match syntax (a
// plain name matches itself) compared without regard to case and in
// Unicode normal form C, as job names are, with its script_file read into
// Script.
//
// req.Workdir is ignored: the definition's workdir, or the host's default,
// applies. req.Args, when there are any, replace the definition's args, so
// a user can start a defined job by hand with other arguments; there is no
// way to start it with none when the definition has some.
func (*Type) Resolve(ctx context.Context, req *sdk.ResolveRequest) (*sdk.Definition, error) {
	dir, pattern := req.DefinitionPath, req.DefinitionName
	if pattern == "" {
		return nil, fmt.Errorf("no definition name given: name one of the %s definitions in %s", Name, dir)
	}
	// Every message below names the definition asked for and where it
	// was looked for: the directory is often a default the user did not
	// write.
	asked := fmt.Sprintf("cannot start the %s definition %q", Name, pattern)
	if dir == "" {
		return nil, fmt.Errorf("%s: no definition path given: name the directory that holds the definition files", asked)
	}
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: the definition path %s does not exist; write it in a *.hcl file there, or give the directory that holds it with --definition-path", asked, dir)
	case err != nil:
		return nil, fmt.Errorf("%s: cannot read the definition path %s: %v", asked, dir, errText(err))
	case !fi.IsDir():
		return nil, fmt.Errorf("%s: the definition path %s is not a directory; give the directory that holds the definition files", asked, dir)
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("the definition name %q is not a valid wildcard pattern: %v", pattern, err)
	}
	l := load(ctx, dir)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	matches := matching(pattern, l.valid)
	if len(matches) == 0 {
		// A job with a problem, asked for, is refused with what is
		// wrong with it, not as if it were not there. (Only then: a
		// wildcard that matches a usable job is not made ambiguous by
		// a broken one.)
		matches = matching(pattern, l.bad)
	}
	switch len(matches) {
	case 0:
		return nil, noMatch(pattern, dir, l)
	case 1:
	default:
		var b strings.Builder
		fmt.Fprintf(&b, "%q matches %d %s definitions in %s; name one:", pattern, len(matches), Name, dir)
		for _, e := range matches {
			fmt.Fprintf(&b, "\n  %s (%s)", e.def.Name, e.source())
		}
		return nil, errors.New(b.String())
	}
	e := matches[0]
	if len(e.problems) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "the %s definition %q (%s) cannot be used until it is fixed:", Name, e.def.Name, e.source())
		for _, p := range e.problems {
			fmt.Fprintf(&b, "\n  %v", p)
		}
		return nil, errors.New(b.String())
	}
	def := e.def
	if e.scriptFile != "" {
		b, err := os.ReadFile(e.scriptFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read the script file %s of job %q (%s): %v", e.scriptFile, def.Name, e.source(), errText(err))
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("the script file %s of job %q (%s) is not UTF-8 text", e.scriptFile, def.Name, e.source())
		}
		def.Script = string(b)
	}
	if len(req.Args) > 0 {
		def.Args = slices.Clone(req.Args)
	}
	return def, nil
}

// matching are the entries whose names match pattern.
func matching(pattern string, entries []*entry) []*entry {
	var out []*entry
	for _, e := range entries {
		if ok, _ := path.Match(foldName(pattern), foldName(e.def.Name)); ok {
			out = append(out, e)
		}
	}
	return out
}

// noMatch says that no definition in dir matches pattern, what the
// definitions there are, and what is wrong there: the jobs of a file hcl
// cannot parse are not known, which may be why.
func noMatch(pattern, dir string, l loaded) error {
	entries, problems := l.valid, l.problems
	var b strings.Builder
	if strings.ContainsAny(pattern, `*?[\`) {
		fmt.Fprintf(&b, "no %s definition in %s matches %q", Name, dir, pattern)
	} else {
		fmt.Fprintf(&b, "no %s definition in %s is named %q", Name, dir, pattern)
	}
	if len(entries) == 0 {
		b.WriteString("; there are none")
	} else {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.def.Name
		}
		fmt.Fprintf(&b, "; the definitions there are: %s", strings.Join(names, ", "))
	}
	if len(problems) > 0 {
		b.WriteString("\nproblems found there (a job with a problem is not defined until it is fixed, nor are the jobs of a file with a syntax error):")
		for _, p := range problems {
			fmt.Fprintf(&b, "\n  %v", p)
		}
	}
	return errors.New(b.String())
}

// foldName is a definition name as names compare: in Unicode normal form
// C (a name typed decomposed is the same name) and lower case (as job
// names, PowerShell's, match without regard to case).
func foldName(name string) string { return strings.ToLower(norm.NFC.String(name)) }
