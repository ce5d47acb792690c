package shell

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/sdk"
	"mvdan.cc/sh/v3/interp"
)

// A builtin runs one stream builtin. Its error is the command's exit status
// (nil for 0), as for an exec handler.
type builtin func(s *session, ctx context.Context, hc interp.HandlerContext, args []string) error

var streamBuiltins = map[string]builtin{
	"write-output":       writeOutput,
	"write-error":        writeError,
	"write-warning":      writeMessage(sdk.Warning),
	"write-verbose":      writeMessage(sdk.Verbose),
	"write-debug":        writeMessage(sdk.Debug),
	"write-information":  writeInformation,
	"write-progress":     writeProgress,
	ownBuiltin + "umask": umaskBuiltin,
}

// legacyBuiltins are the stream builtins of the 1.x line.
var legacyBuiltins = map[string]builtin{
	"write-output":       writeOutput,
	"write-error":        writeError,
	"write-warning":      writeMessage(sdk.Warning),
	"write-verbose":      writeMessage(sdk.Verbose),
	ownBuiltin + "umask": umaskBuiltin,
}

// builtins intercepts the stream builtins before the exec handler. The
// interpreter calls exec handlers only for names that are neither functions
// nor its own builtins, so a script's function of the same name wins.
func (s *session) builtins(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		if b, ok := s.rt.builtins[args[0]]; ok {
			return b(s, ctx, interp.HandlerCtx(ctx), args[1:])
		}
		if args[0] == initDone {
			// Between the init script and the script: $? is the
			// init script's exit status.
			if code := interp.HandlerCtx(ctx).LastExitStatus; code != 0 {
				return &initFailedError{code: code}
			}
			s.initDone.Store(true)
			return nil
		}
		return next(ctx, args)
	}
}

// flags is a builtin's flag set. The flag package accepts --name as well as
// -name; its messages go to the command's stderr.
type flags struct {
	*flag.FlagSet
	synopsis string
}

func newFlags(hc interp.HandlerContext, name, synopsis string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(hc.Stderr)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, synopsis: synopsis}
}

// parse parses args. It returns done with the command's result when the
// command should not go on: --help (usage on stdout, status 0) or a bad flag
// (the message and the usage on stderr, status 2, like a normal command).
func (f *flags) parse(hc interp.HandlerContext, args []string) (done bool, err error) {
	perr := f.Parse(args)
	switch {
	case perr == nil:
		return false, nil
	case errors.Is(perr, flag.ErrHelp):
		f.usage(hc.Stdout)
		return true, nil
	default:
		f.usage(hc.Stderr)
		return true, interp.ExitStatus(2)
	}
}

func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s %s\n", f.Name(), f.synopsis)
	f.SetOutput(w)
	f.PrintDefaults()
}

// fail reports a usage error of a builtin, with status 2.
func fail(hc interp.HandlerContext, name, format string, args ...any) error {
	fmt.Fprintf(hc.Stderr, "%s: %s\n", name, fmt.Sprintf(format, args...))
	return interp.ExitStatus(2)
}

// int32Flag is an int32 flag; out-of-range values are flag errors.
type int32Flag struct{ p *int32 }

func (f int32Flag) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.Itoa(int(*f.p))
}

func (f int32Flag) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return errors.New("not a 32-bit integer")
	}
	*f.p = int32(n)
	return nil
}

func (f *flags) int32(name string, value int32, usage string) *int32 {
	p := new(int32)
	*p = value
	f.Var(int32Flag{p}, name, usage)
	return p
}

// emitted turns a builtin's emit error into its exit status: only a job
// that has ended refuses records.
func emitted(err error) error {
	if err != nil {
		return interp.ExitStatus(1)
	}
	return nil
}

// eachLine calls fn with every line of the command's stdin, without its
// newline. A stop interrupts a read that would block.
func eachLine(ctx context.Context, hc interp.HandlerContext, fn func(string) error) error {
	if hc.Stdin == nil {
		return nil
	}
	if f, ok := hc.Stdin.(*os.File); ok {
		stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
		defer stop()
	}
	br := bufio.NewReaderSize(hc.Stdin, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if ferr := fn(strings.TrimSuffix(line, "\n")); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(hc.Stderr, "reading stdin: %v\n", err)
			return interp.ExitStatus(1)
		}
	}
}

// copyStdin relays the command's stdin to w, ending it with a newline.
func copyStdin(ctx context.Context, hc interp.HandlerContext, w io.Writer) error {
	if hc.Stdin == nil {
		return nil
	}
	if f, ok := hc.Stdin.(*os.File); ok {
		stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
		defer stop()
	}
	buf := make([]byte, copyBuf)
	last := byte('\n')
	for {
		n, err := hc.Stdin.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return interp.ExitStatus(1)
			}
			last = buf[n-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(hc.Stderr, "reading stdin: %v\n", err)
			return interp.ExitStatus(1)
		}
	}
	if last != '\n' {
		if _, err := io.WriteString(w, "\n"); err != nil {
			return interp.ExitStatus(1)
		}
	}
	return nil
}

// messages calls fn with the message: the arguments joined by spaces, or,
// without arguments, each line of stdin.
func messages(ctx context.Context, hc interp.HandlerContext, args []string, fn func(string) error) error {
	if len(args) > 0 {
		return fn(strings.Join(args, " "))
	}
	return eachLine(ctx, hc, fn)
}

// writeOutput: write-output [--type NAME] [VALUE...]
//
// One Output record per value, or per line of stdin without values. When
// its stdout is redirected, piped or captured ($(...)), the values are
// written there as lines instead, so `x=$(write-output hi)` works as it
// does in PowerShell.
func writeOutput(s *session, ctx context.Context, hc interp.HandlerContext, args []string) error {
	f := newFlags(hc, "write-output", "[--type NAME] [--] [VALUE...]\nOne Output record per VALUE; without VALUEs, one per line of stdin.")
	typeName := f.String("type", "", "the values' type `name` (typed objects)")
	if done, err := f.parse(hc, args); done {
		return err
	}
	if !s.isJobStdout(hc.Stdout) {
		return messagesTo(ctx, hc, hc.Stdout, f.Args(), false)
	}
	if f.NArg() == 0 && *typeName == "" {
		// Plain lines are what the script's stdout makes too.
		return copyStdin(ctx, hc, hc.Stdout)
	}
	emit := func(v string) error { return emitted(s.emit(sdk.NewOutput(v, *typeName))) }
	if f.NArg() == 0 {
		return eachLine(ctx, hc, emit)
	}
	for _, v := range f.Args() {
		if err := emit(v); err != nil {
			return err
		}
	}
	return nil
}

// messagesTo writes values (each on a line, or joined by spaces) or stdin
// to w: what a builtin does when its stream is redirected.
func messagesTo(ctx context.Context, hc interp.HandlerContext, w io.Writer, args []string, join bool) error {
	if len(args) == 0 {
		return copyStdin(ctx, hc, w)
	}
	if join {
		args = []string{strings.Join(args, " ")}
	}
	for _, a := range args {
		if _, err := io.WriteString(w, a+"\n"); err != nil {
			return interp.ExitStatus(1)
		}
	}
	return nil
}

// writeError: write-error [--category C] [--target T] [--error-id ID]
// [--recommended-action A] [MESSAGE...]
//
// An Error record, the message being the arguments joined by spaces, or one
// per line of stdin without them. Redirected stderr (2>file, 2>&1 into a
// pipe) gets the message as a line instead.
func writeError(s *session, ctx context.Context, hc interp.HandlerContext, args []string) error {
	f := newFlags(hc, "write-error", "[--category C] [--target T] [--error-id ID] [--recommended-action A] [--] [MESSAGE...]\nAn Error record; without MESSAGE, one per line of stdin.")
	category := f.String("category", "NotSpecified", "the error's `category`")
	target := f.String("target", "", "the `object` the error is about")
	errorID := f.String("error-id", "", "the error's `id`")
	action := f.String("recommended-action", "", "what the user should `do` about it")
	if done, err := f.parse(hc, args); done {
		return err
	}
	if !s.isJobStderr(hc.Stderr) {
		return messagesTo(ctx, hc, hc.Stderr, f.Args(), true)
	}
	return messages(ctx, hc, f.Args(), func(msg string) error {
		return emitted(s.emit(sdk.NewError(msg, &sdk.ErrorDetail{
			Category:          *category,
			Target:            *target,
			ErrorId:           *errorID,
			RecommendedAction: *action,
		})))
	})
}

// writeMessage makes write-warning, write-verbose and write-debug:
// NAME [MESSAGE...], one record of the arguments joined by spaces, or one
// per line of stdin without them.
func writeMessage(stream sdk.Stream) builtin {
	name := "write-" + sdk.StreamNames[stream]
	return func(s *session, ctx context.Context, hc interp.HandlerContext, args []string) error {
		f := newFlags(hc, name, "[--] [MESSAGE...]\nA "+sdk.StreamNames[stream]+" record; without MESSAGE, one per line of stdin.")
		if done, err := f.parse(hc, args); done {
			return err
		}
		return messages(ctx, hc, f.Args(), func(msg string) error {
			return emitted(s.emit(sdk.NewMessage(stream, msg)))
		})
	}
}

// writeInformation: write-information [--tags a,b] [--source S] [MESSAGE...]
func writeInformation(s *session, ctx context.Context, hc interp.HandlerContext, args []string) error {
	f := newFlags(hc, "write-information", "[--tags A,B] [--source S] [--] [MESSAGE...]\nAn Information record; without MESSAGE, one per line of stdin.")
	tags := f.String("tags", "", "comma-separated `tags`")
	source := f.String("source", s.defaultSource(), "the `source` of the message")
	if done, err := f.parse(hc, args); done {
		return err
	}
	var tagList []string
	for t := range strings.SplitSeq(*tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tagList = append(tagList, t)
		}
	}
	return messages(ctx, hc, f.Args(), func(msg string) error {
		return emitted(s.emit(sdk.NewInformation(msg, &sdk.InformationDetail{
			Tags:         tagList,
			Source:       *source,
			TimeUnixNano: time.Now().UnixNano(),
			User:         userName(hc),
			Computer:     hostName(),
			Pid:          int32(os.Getpid()),
		})))
	})
}

// defaultSource is an Information record's source when the script gives
// none: PowerShell names the script, and a job's script is known by the
// job's name.
func (s *session) defaultSource() string {
	if s.job.Name != "" {
		return s.job.Name
	}
	return "bgjob-" + Name
}

var currentUser = sync.OnceValue(func() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
})

// userName is the user the runtime runs as.
func userName(hc interp.HandlerContext) string {
	if u := currentUser(); u != "" {
		return u
	}
	if u := hc.Env.Get("USER").String(); u != "" {
		return u
	}
	return strconv.Itoa(os.Getuid())
}

func hostName() string {
	h, _ := os.Hostname()
	return h
}

// writeProgress: write-progress [--id N] [--parent-id N] [--activity A]
// [--status S] [--current-operation O] [--percent P] [--seconds-remaining S]
// [--completed] [ACTIVITY...]
func writeProgress(s *session, _ context.Context, hc interp.HandlerContext, args []string) error {
	const name = "write-progress"
	f := newFlags(hc, name, "[--id N] [--parent-id N] [--activity A] [--status S] [--current-operation O] [--percent P] [--seconds-remaining S] [--completed] [--] [ACTIVITY...]\nA Progress record; the words after the flags are the activity.")
	id := f.int32("id", 0, "the activity's `id` (0 or more)")
	parent := f.int32("parent-id", -1, "the parent activity's `id`, -1 for none")
	activity := f.String("activity", "", "what is being done (or give it as words after the flags)")
	status := f.String("status", "", "the activity's `status`")
	op := f.String("current-operation", "", "the `operation` under way")
	percent := f.int32("percent", -1, "`percent` complete, 0 to 100, -1 for unknown")
	secs := f.int32("seconds-remaining", -1, "`seconds` remaining, -1 for unknown")
	completed := f.Bool("completed", false, "the activity has completed")
	if done, err := f.parse(hc, args); done {
		return err
	}
	switch {
	case *id < 0:
		return fail(hc, name, "--id must be 0 or more, not %d", *id)
	case *parent < -1:
		return fail(hc, name, "--parent-id must be -1 or more, not %d", *parent)
	case *percent < -1 || *percent > 100:
		return fail(hc, name, "--percent must be from -1 to 100, not %d", *percent)
	case *secs < -1:
		return fail(hc, name, "--seconds-remaining must be -1 or more, not %d", *secs)
	case *activity != "" && f.NArg() > 0:
		return fail(hc, name, "the activity is given twice: --activity %q and %q", *activity, strings.Join(f.Args(), " "))
	}
	if f.NArg() > 0 {
		*activity = strings.Join(f.Args(), " ")
	}
	return emitted(s.emit(sdk.NewProgress(&sdk.ProgressDetail{
		ActivityId:       *id,
		ParentId:         *parent,
		Activity:         *activity,
		Status:           *status,
		CurrentOperation: *op,
		Percent:          *percent,
		SecondsRemaining: *secs,
		Completed:        *completed,
	})))
}
