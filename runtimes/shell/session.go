package shell

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/bgjob/bgjob/sdk"
	"mvdan.cc/sh/v3/interp"
)

// errEnded is what writes get once Run has returned: a background statement
// of the interpreter may still be between two statements then.
var errEnded = errors.New("the job has ended")

// session is one Run: the job, its emitter behind a gate that closes when
// Run returns, the process groups it started and the exec handlers in flight.
type session struct {
	job *sdk.Job
	out sdk.Emitter
	rt  *Runtime

	stdout, stderr *streamWriter
	procs          *procTracker
	initDone       atomic.Bool
	// umask is the job's file mode creation mask (see withUmask); the
	// umask builtin sets it, the interpreter's and the job's background
	// statements read it.
	umask atomic.Uint32

	// gate is held for reading by every use of out; closing it (for
	// writing) waits for those and makes later ones fail.
	gate   sync.RWMutex
	closed bool

	// Exec handlers in flight, so that Run returns only after each has.
	mu       sync.Mutex
	cond     *sync.Cond
	inflight int
	draining bool
	// leftovers relay pipes that commands' leftovers hold (see settle).
	leftovers []*copier

	stdinR, stdinW *os.File
}

func newSession(job *sdk.Job, out sdk.Emitter, rt *Runtime) *session {
	s := &session{job: job, out: out, rt: rt, procs: newProcTracker()}
	s.cond = sync.NewCond(&s.mu)
	// The caller's mask, which the host passes on; a host that passes
	// none leaves the process's.
	if job.Umask != nil {
		s.umask.Store(*job.Umask)
	} else {
		s.umask.Store(processUmask())
	}
	s.stdout = &streamWriter{s: s, w: out.Writer(sdk.Output)}
	s.stderr = &streamWriter{s: s, w: out.Writer(sdk.Error)}
	if sameWriter(s.stdout.w, s.stderr.w) {
		// A job whose stderr is output (--merge-error): one writer, so
		// that a command's stdout and stderr share one pipe and keep
		// their order, as 2>&1 does (see outputFiles).
		s.stderr = s.stdout
	}
	return s
}

// streamWriter is the script's stdout or stderr: the emitter's line writer
// for the stream, behind the session's gate.
type streamWriter struct {
	s *session
	w io.Writer
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.s.gate.RLock()
	defer w.s.gate.RUnlock()
	if w.s.closed {
		return 0, errEnded
	}
	return w.w.Write(p)
}

// emit sends one record, unless Run has returned.
func (s *session) emit(r *sdk.Record) error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closed {
		return errEnded
	}
	return s.out.Emit(r)
}

// openInput returns the script's stdin: a pipe fed with the job's input.
// An *os.File, because the interpreter would otherwise make its own pipe
// and a goroutine that never ends if the script does not read everything;
// this one is closed by close. A job without input reads the null device,
// which the process opens once for all its jobs: a pipe made and closed for
// each job was a fifth of what the runtime spent running a trivial one.
func (s *session) openInput(input []byte) (*os.File, error) {
	if len(input) == 0 {
		if f, err := devNull(); err == nil {
			return f, nil
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.stdinR, s.stdinW = r, w
	if len(input) == 0 {
		_ = w.Close()
		return r, nil
	}
	go func() {
		_, _ = w.Write(input) // fails once close closes the pipe
		_ = w.Close()
	}()
	return r, nil
}

// devNull is the null device, open for reading, shared by the process's
// jobs and never closed.
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// enter counts an exec handler in; it reports false once Run is ending.
func (s *session) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.inflight++
	return true
}

func (s *session) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.inflight == 0 {
		s.cond.Broadcast()
	}
}

// drain waits for the exec handlers in flight and refuses new ones.
func (s *session) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	for s.inflight > 0 {
		s.cond.Wait()
	}
}

// close shuts the gate and the input pipe.
func (s *session) close() {
	s.gate.Lock()
	s.closed = true
	s.gate.Unlock()
	if s.stdinR != nil {
		_ = s.stdinR.Close()
		_ = s.stdinW.Close()
	}
}

// handlers are the session's hooks into the interpreter: the exec
// handlers (counting, the builtins, and the exec handler for external
// programs, which replaces the interpreter's default one), the call
// handler that routes the shell builtins the interpreter lacks to ours,
// and the open handler that gives the files it creates the job's mask.
func (s *session) handlers() []interp.RunnerOption {
	return []interp.RunnerOption{
		interp.ExecHandlers(
			s.counting,
			s.builtins,
			func(interp.ExecHandlerFunc) interp.ExecHandlerFunc { return s.execProgram },
		),
		interp.CallHandler(shellBuiltinCall),
		interp.OpenHandler(s.open),
	}
}

// ownBuiltin prefixes the names of shell builtins the interpreter knows
// but does not implement (umask): it refuses them itself before any exec
// handler sees them, so the call handler renames them for ours. The
// prefix cannot come from a script (a NUL byte). The rename happens before
// function lookup, so a script's function of such a name is not called.
const ownBuiltin = "\x00bgjob:"

func shellBuiltinCall(ctx context.Context, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	switch args[0] {
	case "umask":
		args = append([]string{ownBuiltin + args[0]}, args[1:]...)
	case "kill":
		// The interpreter names kill a builtin it does not have
		// ("kill: unsupported builtin"), so `kill $pid` failed in every
		// job: the system's kill on the job's PATH runs it instead (no
		// job control here, so no %N either way).
		hc := interp.HandlerCtx(ctx)
		if path, err := interp.LookPathDir(hc.Dir, hc.Env, "kill"); err == nil {
			args = append([]string{path}, args[1:]...)
		}
	}
	return args, nil
}

// isJobStdout reports whether w is the job's own stdout, not a redirection,
// a pipe or a command substitution.
func (s *session) isJobStdout(w io.Writer) bool {
	sw, ok := w.(*streamWriter)
	return ok && sw == s.stdout
}

// isJobStderr is isJobStdout for stderr.
func (s *session) isJobStderr(w io.Writer) bool {
	sw, ok := w.(*streamWriter)
	return ok && sw == s.stderr
}
