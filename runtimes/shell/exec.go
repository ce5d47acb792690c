package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgjob/bgjob/sdk"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
)

// pipeGiveUp is how long a command's output pipe may stay open after its
// processes were killed (a process that left the group may hold it) before
// the runtime stops reading it.
const pipeGiveUp = 250 * time.Millisecond

// copyBuf is the size of reads from a command's output pipe: a fast writer
// costs one record per 64 KiB. (Reads of 1 MiB, a whole grown pipe, were
// measured no faster.)
const copyBuf = 64 << 10

// counting lets Run wait for every exec handler before it returns.
func (s *session) counting(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		if !s.enter() {
			if err := ctx.Err(); err != nil {
				return err
			}
			return errEnded
		}
		defer s.leave()
		return next(ctx, args)
	}
}

// execProgram runs an external program, as interp.DefaultExecHandler does,
// but in a process group of its own that the session tracks, so that a stop
// reaches the program's children too.
func (s *session) execProgram(ctx context.Context, args []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	hc := interp.HandlerCtx(ctx)
	path, err := interp.LookPathDir(hc.Dir, hc.Env, args[0])
	if err != nil {
		if strings.ContainsAny(args[0], `/\`) {
			fmt.Fprintf(hc.Stderr, "%s: command not found: %v\n", args[0], err)
		} else {
			fmt.Fprintf(hc.Stderr, "%s: command not found\n", args[0])
		}
		return interp.ExitStatus(127)
	}

	stdout, stderr, copiers, err := outputFiles(hc.Stdout, hc.Stderr)
	if err != nil {
		fmt.Fprintf(hc.Stderr, "%s: %v\n", args[0], err)
		return interp.ExitStatus(126)
	}
	closeWriteEnds := func() {
		for _, c := range copiers {
			_ = c.w.Close()
		}
	}
	newCmd := func() *exec.Cmd {
		cmd := &exec.Cmd{Path: path, Args: args, Env: execEnv(hc.Env), Dir: hc.Dir, Stdout: stdout, Stderr: stderr}
		if f, ok := hc.Stdin.(*os.File); ok {
			if f != nil {
				cmd.Stdin = f
			}
		} else if hc.Stdin != nil {
			cmd.Stdin = hc.Stdin
		}
		setProcessGroup(cmd)
		return cmd
	}
	if sy, ok := s.out.(sdk.Syncer); ok {
		sy.Sync()
	}
	// The command keeps the mask it is forked with: the job's.
	// Started through the SDK, which then knows the process as the
	// runtime's own and not a job's leftover (sdk.StartChild).
	start := func() (*exec.Cmd, error) {
		cmd := newCmd()
		_, err := sdk.StartChild(func() (*os.Process, error) {
			var err error
			withUmask(s.umask.Load(), func() { err = cmd.Start() })
			return cmd.Process, err
		})
		return cmd, err
	}
	cmd, err := start()
	// A concurrently forked process may briefly hold the binary open for
	// writing (https://go.dev/issue/22315); retry for a while, as the
	// default handler does.
	for delay := time.Millisecond; isETXTBSY(err) && delay < 300*time.Millisecond; delay *= 2 {
		time.Sleep(delay)
		cmd, err = start()
	}
	if err != nil {
		closeWriteEnds()
		s.waitCopiers(copiers)
		if isENOEXEC(err) {
			// Like other shells, run a file without a #! line as a
			// shell script, in a new shell with the same handlers.
			return s.runScriptFile(ctx, hc, path, args)
		}
		fmt.Fprintf(hc.Stderr, "%s: %v\n", args[0], err)
		return interp.ExitStatus(126)
	}
	s.procs.add(cmd.Process)
	closeWriteEnds()
	err = cmd.Wait()
	sdk.ChildWaited(cmd.Process)
	s.procs.reaped(cmd.Process)
	s.settle(copiers)

	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if sig, ok := signalOf(ee); ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return interp.ExitStatus(128 + sig)
		}
		return interp.ExitStatus(uint8(ee.ExitCode()))
	default:
		fmt.Fprintf(hc.Stderr, "%s: %v\n", args[0], err)
		return interp.ExitStatus(1)
	}
}

// copier relays one output pipe of a command to the interpreter's writer.
// The runtime copies instead of exec.Cmd so that it alone decides when to
// stop waiting for the pipe's end. Once the command has exited, what it
// wrote is passed on (drain) before the script goes on, so output keeps
// its order; a background grandchild that still holds the pipe (sh -c
// 'daemon &') does not hold the script up, as it would not a shell writing
// to a pipe: its output is the job's while the job runs, relayed as it
// comes (see session.settle), and the pipe is let go shortly after the
// job's processes were ended.
type copier struct {
	r, w *os.File
	dst  io.Writer
	done chan struct{}

	mu       sync.Mutex // held while bytes read are passed on
	buf      []byte
	eof      bool         // the pipe is at its end, or cannot be read
	discard  bool         // dst failed: what comes is read and dropped
	progress atomic.Int64 // bytes passed on, for endLeftovers
}

// pass hands b to dst, or drops it once dst has failed (nobody takes the
// output any more; the writer must not block on a full pipe). c.mu is
// held.
func (c *copier) pass(b []byte) {
	if c.discard {
		return
	}
	if _, err := c.dst.Write(b); err != nil {
		c.discard = true
	}
	c.progress.Add(int64(len(b)))
}

// outputFiles returns the files a command writes to: the interpreter's
// writers themselves if they are files (a redirection, a pipeline), else
// pipes relayed by copiers. A stdout and stderr that are the same writer
// (2>&1) share one pipe, which keeps their order.
func outputFiles(stdout, stderr io.Writer) (outF, errF *os.File, copiers []*copier, err error) {
	file := func(w io.Writer) (*os.File, error) {
		if f, ok := w.(*os.File); ok && f != nil {
			return f, nil
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		growPipe(pw)
		c := &copier{r: r, w: pw, dst: w, done: make(chan struct{}), buf: make([]byte, copyBuf)}
		go c.copy()
		copiers = append(copiers, c)
		return pw, nil
	}
	if outF, err = file(stdout); err != nil {
		return nil, nil, nil, err
	}
	if sameWriter(stdout, stderr) {
		return outF, outF, copiers, nil
	}
	if errF, err = file(stderr); err != nil {
		for _, c := range copiers {
			_ = c.w.Close()
			<-c.done
		}
		return nil, nil, nil, err
	}
	return outF, errF, copiers, nil
}

// settle passes on, once a command has exited, what it wrote, before the
// script goes on. A pipe that something the command left running still
// holds (sh -c 'server &') is relayed meanwhile if it goes to the job's
// own output, as a shell writing to a pipe goes on; the job's output ends
// when the last of them closes it (awaitLeftovers). One that goes
// elsewhere (a command substitution's value) is waited for to its end, as
// a shell waits for $(...)'s; so is every one where a pipe cannot be read
// without waiting (drain says so).
func (s *session) settle(copiers []*copier) {
	for _, c := range copiers {
		switch {
		case c.drain():
			<-c.done
		case relaysLeftovers && (c.dst == io.Writer(s.stdout) || c.dst == io.Writer(s.stderr)):
			s.mu.Lock()
			// Those that ended since are let go: a loop of commands
			// that each leave something for a moment keeps no more.
			s.leftovers = slices.DeleteFunc(s.leftovers, (*copier).ended)
			s.leftovers = append(s.leftovers, c)
			s.mu.Unlock()
		default:
			s.waitCopiers([]*copier{c})
		}
	}
}

// ended reports whether c has relayed its pipe to the end.
func (c *copier) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// awaitLeftovers waits, once the script has ended, until every pipe that
// commands' leftovers held is at its end: the job's output ends when the
// last process holding it closes it, as the reader of a pipe sees, and the
// work it does meanwhile is the job's. A stop (ctx) ends the wait; then
// endLeftovers lets go of them.
func (s *session) awaitLeftovers(ctx context.Context) {
	s.mu.Lock()
	left := slices.Clone(s.leftovers)
	s.mu.Unlock()
	for _, c := range left {
		select {
		case <-c.done:
		case <-ctx.Done():
			return
		}
	}
}

// endLeftovers lets go of the pipes commands' leftovers held, once the
// job's processes have been ended (procs.wait), so that nothing is written
// to out after Run returns: each is relayed to its end, or until it has
// passed nothing on for pipeGiveUp (something outside the job's process
// groups, setsid, still holds it), and at most leftoverCap in all.
func (s *session) endLeftovers() {
	s.mu.Lock()
	left := s.leftovers
	s.leftovers = nil
	s.mu.Unlock()
	deadline := time.After(leftoverCap)
	for _, c := range left {
		c.letGoWhenIdle(pipeGiveUp, deadline)
	}
}

// letGoWhenIdle waits for c's end, and ends it (closing its read end) once
// it has passed nothing on for idle, or at deadline.
func (c *copier) letGoWhenIdle(idle time.Duration, deadline <-chan time.Time) {
	tick := time.NewTicker(idle)
	defer tick.Stop()
	for last := c.progress.Load(); ; {
		select {
		case <-c.done:
			return
		case <-tick.C:
			if n := c.progress.Load(); n != last {
				last = n // still relaying what is in the pipe
				continue
			}
		case <-deadline:
		}
		_ = c.r.Close() // ends the copier's read
		<-c.done
		return
	}
}

// leftoverCap bounds how long a job's end relays what leftovers outside
// its process groups keep writing.
const leftoverCap = 5 * time.Second

// waitCopiers waits until every pipe is drained: until its writers have
// closed it, or shortly after the session killed its processes.
func (s *session) waitCopiers(copiers []*copier) {
	for _, c := range copiers {
		select {
		case <-c.done:
			continue
		case <-s.procs.killed:
		}
		select {
		case <-c.done:
		case <-time.After(pipeGiveUp):
			// The read end unblocks the copier's Read.
			_ = c.r.Close()
			<-c.done
		}
	}
}

// sameWriter reports whether a and b are the same writer; writers of
// incomparable types are never the same, as in exec.Cmd.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// execEnv is the environment an external command gets: the exported
// variables, as the interpreter's own (unexported) execEnv builds it.
func execEnv(env expand.Environ) []string {
	list := make([]string, 0, 64)
	for name, vr := range env.Each {
		if !vr.IsSet() {
			// Set in a parent scope but unset here: drop it.
			for i, kv := range list {
				if strings.HasPrefix(kv, name+"=") {
					list[i] = ""
				}
			}
		}
		if vr.Exported && vr.Kind == expand.String {
			list = append(list, name+"="+vr.String())
		}
	}
	return list
}

// runScriptFile runs a file the kernel would not execute (no #! line) as a
// shell script in a new shell, as POSIX asks: same handlers, same process
// tracking, but not the caller's functions or unexported variables.
func (s *session) runScriptFile(ctx context.Context, hc interp.HandlerContext, path string, args []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(hc.Stderr, "%s: %v\n", args[0], err)
		return interp.ExitStatus(126)
	}
	// Like Bash, refuse a file with a NUL byte in its first line.
	if line, _, _ := bytes.Cut(b, []byte("\n")); bytes.IndexByte(line, 0) >= 0 {
		fmt.Fprintf(hc.Stderr, "%s: cannot execute binary file\n", args[0])
		return interp.ExitStatus(126)
	}
	file, err := parse(s.rt.lang, string(b))
	if err != nil {
		fmt.Fprintf(hc.Stderr, "%s: %v\n", args[0], err)
		return interp.ExitStatus(2)
	}
	file.Name = args[0]
	r, err := interp.New(append(s.handlers(),
		interp.Dir(hc.Dir),
		interp.Env(expand.ListEnviron(execEnv(hc.Env)...)),
		interp.StdIO(hc.Stdin, hc.Stdout, hc.Stderr),
		interp.Params(append([]string{"--"}, args[1:]...)...),
	)...)
	if err != nil {
		return err
	}
	err = r.Run(ctx, file)
	var es interp.ExitStatus
	if err == nil || errors.As(err, &es) || ctx.Err() != nil {
		return err
	}
	// A fatal error of the inner shell is the command's failure, not the
	// job's.
	fmt.Fprintf(hc.Stderr, "%s: %v\n", args[0], err)
	return interp.ExitStatus(1)
}
