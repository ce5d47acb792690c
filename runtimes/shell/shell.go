// Package shell is bgjob's reference runtime: it runs a job's script with the
// mvdan.cc/sh/v3 interpreter, so scripts are shell scripts on every OS, and
// turns what the script prints into the job's seven streams.
//
// Plain stdout lines become Output records and stderr lines Error records.
// The stream builtins write-output, write-error, write-warning,
// write-verbose, write-debug, write-information and write-progress emit
// records whose fields are set by flags (run one with --help for its usage).
// A function of the same name defined by the script wins over the builtin.
//
// Every external command runs in its own process group, so that stopping a
// job, or the end of its script, ends the processes it started, children
// included: SIGTERM first, SIGKILL after the grace period.
package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/sdk"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Name is the runtime's name in the catalog.
const Name = "shell"

// Version is the runtime's version, unless a binary is built with another
// (cmd/bgjob-shell's main.version), which it serves as.
const Version = "2.0.0"

// scriptName is $0 inside a job.
const scriptName = "bgjob"

// DefaultGrace is how long processes get between SIGTERM and SIGKILL when
// the job's context is cancelled without a StopRequest, and when the script
// ends while processes it started are still running.
const DefaultGrace = 2 * time.Second

// Runtime runs jobs' scripts. Make one with New; it is safe for concurrent
// use, one Run per job.
type Runtime struct {
	grace    time.Duration
	lang     syntax.LangVariant
	builtins map[string]builtin
	env      envCache
	parsed   parseCache
}

var (
	_ sdk.Runtime    = (*Runtime)(nil)
	_ sdk.InputTaker = (*Runtime)(nil)
)

// Option configures a Runtime.
type Option func(*Runtime)

// WithGrace sets the grace period between SIGTERM and SIGKILL used when the
// job's context is cancelled without a StopRequest (a StopRequest brings its
// own), and for processes still running when the script ends. The default is
// DefaultGrace.
func WithGrace(d time.Duration) Option {
	return func(r *Runtime) { r.grace = d }
}

// WithLegacy makes the runtime its 1.x line, as an older release would
// be: scripts are parsed in the POSIX dialect (no arrays, no [[ ]], no
// local), and only write-output, write-error, write-warning and
// write-verbose exist (the others are "command not found", as on a real
// older version). The interpreter is the same code.
func WithLegacy() Option {
	return func(r *Runtime) {
		r.lang = syntax.LangPOSIX
		r.builtins = legacyBuiltins
	}
}

// New returns a shell runtime.
func New(opts ...Option) *Runtime {
	r := &Runtime{grace: DefaultGrace, lang: syntax.LangBash, builtins: streamBuiltins}
	for _, o := range opts {
		o(r)
	}
	return r
}

// TakesInput says the runtime's jobs take input while they run (bgjob
// send): process jobs and thread jobs alike, since each job has a session
// of its own whose standard input is the job's pipe, which the programs it
// starts read too.
func (rt *Runtime) TakesInput(*sdk.Job) error { return nil }

// parse parses a script in the runtime's dialect. 2.x uses Bash's: it is a
// superset for the scripts people write, and users reach for [[ ]], arrays,
// local, $'...' and the like without thinking about it. The legacy line
// keeps to POSIX, as it always did. The name is empty so that errors read
// "1:5: ...".
func parse(lang syntax.LangVariant, src string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(lang)).Parse(strings.NewReader(src), "")
}

// parseCache keeps the last few scripts parsed, as a batch's children all
// run the same one: parsing it was 4% of what the runtime spent on a
// batch of trivial thread jobs. The interpreter only reads a parsed script,
// so jobs running at once share one.
type parseCache struct {
	mu   sync.Mutex
	last [4]parsedScript
	next int
}

type parsedScript struct {
	lang syntax.LangVariant
	src  string
	file *syntax.File
}

// parse is the package's parse, from the cache when src was parsed lately.
// A script that does not parse is not kept.
func (c *parseCache) parse(lang syntax.LangVariant, src string) (*syntax.File, error) {
	c.mu.Lock()
	for _, p := range c.last {
		if p.file != nil && p.lang == lang && p.src == src {
			c.mu.Unlock()
			return p.file, nil
		}
	}
	c.mu.Unlock()
	f, err := parse(lang, src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.last[c.next] = parsedScript{lang: lang, src: src, file: f}
	c.next = (c.next + 1) % len(c.last)
	c.mu.Unlock()
	return f, nil
}

// initDone is the command run between the init script and the script: it
// sees the init script's exit status and records that it got that far. The
// name cannot collide with anything a user would write.
const initDone = "__bgjob_init_done__"

// Run runs job.Init and then job.Script in one interpreter session.
//
// The two are parsed separately and run as one program, with a marker
// command between them: that is what a user expects of "one session" ($0,
// functions, variables, options and traps carry over, and an EXIT trap set by
// the init script runs once, at the end), while a failing init script still
// stops before the script. An init script that calls `exit 0` ends the
// session, as it would if sourced; the job completes with a warning that the
// script did not run.
//
// The session ends with the script: processes it left running in the
// background are stopped (SIGTERM, then SIGKILL after the grace period), as a
// CI runner or a systemd unit does, so that nothing the job started outlives
// it unnoticed and no output arrives after the job has ended.
func (rt *Runtime) Run(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	script, err := rt.parsed.parse(rt.lang, job.Script)
	if err != nil {
		return sdk.Failure(2, "syntax error in the script: "+err.Error())
	}
	// The parsed scripts may be shared with other jobs (parseCache): the
	// program is a list of their statements, and they are never changed.
	prog := &syntax.File{Name: scriptName}
	hasInit := strings.TrimSpace(job.Init) != ""
	if hasInit {
		initScript, err := rt.parsed.parse(rt.lang, job.Init)
		if err != nil {
			return sdk.Failure(2, "syntax error in the init script: "+err.Error())
		}
		marker, err := parse(rt.lang, initDone)
		if err != nil {
			panic(err)
		}
		prog.Stmts = slices.Concat(initScript.Stmts, marker.Stmts)
	}
	prog.Stmts = slices.Concat(prog.Stmts, script.Stmts)

	if job.Workdir != "" {
		if fi, err := os.Stat(job.Workdir); err != nil {
			return sdk.Failure(1, fmt.Sprintf("cannot use the working directory: %v", err))
		} else if !fi.IsDir() {
			return sdk.Failure(1, fmt.Sprintf("cannot use the working directory %s: not a directory", job.Workdir))
		}
	}

	s := newSession(job, out, rt)
	defer s.close()
	// A job started with --stdin-open reads the SDK's pipe, which brings
	// --input and then what `bgjob send` writes; any other job reads its
	// --input and then end of file.
	stdin, open := sdk.Stdin(ctx)
	if !open {
		stdin, err = s.openInput(job.Input)
		if err != nil {
			return sdk.Failure(1, "cannot give the script its input: "+err.Error())
		}
	}
	opts := append(s.handlers(),
		// The job's environment, exactly: the host's, with the SDK's
		// $BGJOB_* variables (the same for every runtime) last.
		interp.Env(rt.env.jobEnviron(job.Env)),
		interp.StdIO(stdin, s.stdout, s.stderr),
		interp.Params(append([]string{"--"}, job.Args...)...),
	)
	if job.Workdir != "" {
		opts = append(opts, interp.Dir(job.Workdir))
	}
	runner, err := interp.New(opts...)
	if err != nil {
		return sdk.Failure(1, "cannot start the shell: "+err.Error())
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	ran := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			grace := rt.grace
			if g, ok := sdk.StopGrace(ctx); ok {
				grace = g
			}
			s.procs.shutdown(grace)
		case <-ran:
		}
	}()
	err = runner.Run(runCtx, prog)
	s.awaitLeftovers(ctx)
	close(ran)
	res := rt.result(ctx, err, hasInit, s)

	// End the session: background statements stop between statements,
	// processes still running get the grace period, and nothing writes to
	// out once Run returns.
	cancelRun()
	s.procs.shutdown(rt.grace)
	s.drain()
	s.procs.wait()
	s.endLeftovers()
	if hasInit && !s.initDone.Load() && res.State == sdk.Completed {
		_ = s.emit(sdk.NewMessage(sdk.Warning, "the init script called exit; the script did not run"))
	}
	return res
}

// result maps how the interpreter ended to the job's result.
func (rt *Runtime) result(ctx context.Context, err error, hasInit bool, s *session) sdk.Result {
	if ctx.Err() != nil {
		return sdk.Result{State: sdk.Stopped, Reason: "stopped"}
	}
	var inf *initFailedError
	if errors.As(err, &inf) {
		return sdk.Failure(inf.code, fmt.Sprintf("the init script failed: exit status %d", inf.code))
	}
	var es interp.ExitStatus
	switch {
	case err == nil:
		return sdk.Success()
	case errors.As(err, &es):
		if hasInit && !s.initDone.Load() {
			return sdk.Failure(int(es), fmt.Sprintf("the init script failed: exit status %d", es))
		}
		return sdk.Failure(int(es), fmt.Sprintf("exit status %d", es))
	default:
		return sdk.Failure(1, "the shell failed: "+err.Error())
	}
}

// initFailedError stops the session when the init script ended non-zero.
type initFailedError struct{ code int }

func (e *initFailedError) Error() string {
	return fmt.Sprintf("the init script failed: exit status %d", e.code)
}
