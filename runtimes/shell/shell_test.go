package shell_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

// env is a job environment as the host builds it: explicit, nothing
// inherited.
func env(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}, extra...)
}

func run(t *testing.T, rt *shell.Runtime, job *sdk.Job) (*sdktest.Emitter, sdk.Result) {
	t.Helper()
	if job.Env == nil {
		job.Env = env()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return sdktest.Run(ctx, rt, job)
}

func records(e *sdktest.Emitter, s sdk.Stream) []*sdk.Record {
	var out []*sdk.Record
	for _, r := range e.Records() {
		if r.Stream == s {
			out = append(out, r)
		}
	}
	return out
}

func TestScripts(t *testing.T) {
	tests := []struct {
		name   string
		script string
		init   string
		args   []string
		input  string
		res    sdk.Result
		output []string // nil: not checked
		errors []string // nil: not checked
	}{
		{name: "echo", script: "echo hi", res: sdk.Success(), output: []string{"hi"}, errors: []string{}},
		{name: "stderr", script: "echo oops >&2", res: sdk.Success(), output: []string{}, errors: []string{"oops"}},
		{name: "external", script: `sh -c 'echo out; echo err >&2'`, res: sdk.Success(), output: []string{"out"}, errors: []string{"err"}},
		{name: "2>&1 keeps order", script: `sh -c 'echo a; echo b >&2; echo c' 2>&1`, res: sdk.Success(), output: []string{"a", "b", "c"}, errors: []string{}},
		{name: "pipeline", script: `printf 'b\na\n' | sort | cat`, res: sdk.Success(), output: []string{"a", "b"}},
		{name: "no newline at the end", script: `printf 'x'; printf 'y' >&2`, res: sdk.Success(), output: []string{"x"}, errors: []string{"y"}},
		{name: "exit 3", script: "echo before; exit 3; echo after", res: sdk.Failure(3, "exit status 3"), output: []string{"before"}},
		{name: "last command fails", script: "false", res: sdk.Failure(1, "exit status 1")},
		{name: "external exit status", script: "sh -c 'exit 7'", res: sdk.Failure(7, "exit status 7")},
		{name: "killed by a signal", script: `sh -c 'kill -9 $$'`, res: sdk.Failure(137, "exit status 137")},
		// kill is the system's: the interpreter names it a builtin it
		// does not have.
		// ($! names the interpreter's own job, g1, not a process.)
		{name: "kill", script: `cd "$(mktemp -d)"; sh -c 'echo $$ > pid; exec sleep 30' & while [ ! -s pid ]; do sleep 0.01; done; kill "$(cat pid)"; wait; echo waited; kill -0 $$ && echo alive`,
			res: sdk.Success(), output: []string{"waited", "alive"}, errors: []string{}},
		{name: "command not found", script: "no-such-command-bgjob", res: sdk.Failure(127, "exit status 127"), errors: []string{"no-such-command-bgjob: command not found"}},
		{name: "bash syntax", script: `a=(x y); [[ ${a[1]} == y ]] && echo ok`, res: sdk.Success(), output: []string{"ok"}},
		{name: "$0", script: `echo "$0"`, res: sdk.Success(), output: []string{"bgjob"}},
		{
			name:   "args",
			script: `echo "$#"; for a in "$@"; do echo "[$a]"; done; echo "$1"`,
			args:   []string{"a b", "-e", "", "c"},
			res:    sdk.Success(),
			output: []string{"4", "[a b]", "[-e]", "[]", "[c]", "a b"},
		},
		{
			name:   "input",
			script: `while read l; do echo "got $l"; done`,
			input:  "one\ntwo words\nthree\n",
			res:    sdk.Success(),
			output: []string{"got one", "got two words", "got three"},
		},
		{name: "input to an external command", script: `tr a-z A-Z`, input: "abc\n", res: sdk.Success(), output: []string{"ABC"}},
		{name: "no input", script: `cat; echo done`, res: sdk.Success(), output: []string{"done"}},
		{name: "unread input", script: `echo ignored`, input: strings.Repeat("x\n", 1<<20), res: sdk.Success(), output: []string{"ignored"}},
		{
			name:   "init function and variable",
			init:   `greet() { echo "hello $1"; }; WHO=init; set -o pipefail`,
			script: `greet "$WHO"; false | true`,
			res:    sdk.Failure(1, "exit status 1"),
			output: []string{"hello init"},
		},
		{name: "init sees args", init: `first=$1`, script: `echo "$first"`, args: []string{"x"}, res: sdk.Success(), output: []string{"x"}},
		{name: "init fails", init: "echo init; false", script: "echo main", res: sdk.Failure(1, "the init script failed: exit status 1"), output: []string{"init"}},
		{name: "init exits", init: "exit 4", script: "echo main", res: sdk.Failure(4, "the init script failed: exit status 4"), output: []string{}},
		{name: "init errexit", init: "set -e; sh -c 'exit 5'; echo not", script: "echo main", res: sdk.Failure(5, "the init script failed: exit status 5"), output: []string{}},
		{name: "init exit trap runs once", init: "trap 'echo trap' EXIT", script: "echo main", res: sdk.Success(), output: []string{"main", "trap"}},
		{name: "script failure is not the init's", init: "true", script: "exit 6", res: sdk.Failure(6, "exit status 6")},
		{name: "syntax error", script: "echo 'unclosed", res: sdk.Failure(2, "syntax error in the script: 1:6: reached EOF without closing quote `'`")},
		{name: "init syntax error", init: "if then", script: "echo main", res: sdk.Failure(2, "syntax error in the init script: 1:1: `if` must be followed by a statement list")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, res := run(t, shell.New(), &sdk.Job{Id: 1, Name: "Job1", Script: tt.script, Init: tt.init, Args: tt.args, Input: []byte(tt.input)})
			if res != tt.res {
				t.Errorf("result %+v, want %+v", res, tt.res)
			}
			if tt.output != nil {
				if got := e.Stream(sdk.Output); !slices.Equal(got, tt.output) && !(len(got) == 0 && len(tt.output) == 0) {
					t.Errorf("output %q, want %q", got, tt.output)
				}
			}
			if tt.errors != nil {
				if got := e.Stream(sdk.Error); !slices.Equal(got, tt.errors) && !(len(got) == 0 && len(tt.errors) == 0) {
					t.Errorf("errors %q, want %q", got, tt.errors)
				}
			}
		})
	}
}

func TestInitExitZero(t *testing.T) {
	e, res := run(t, shell.New(), &sdk.Job{Init: "exit 0", Script: "echo main"})
	if res != sdk.Success() {
		t.Errorf("result %+v", res)
	}
	if out := e.Stream(sdk.Output); len(out) != 0 {
		t.Errorf("the script ran: %q", out)
	}
	if w := e.Stream(sdk.Warning); len(w) != 1 || !strings.Contains(w[0], "did not run") {
		t.Errorf("warnings %q", w)
	}
}

func TestWorkdir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "here.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e, res := run(t, shell.New(), &sdk.Job{Workdir: dir, Script: "pwd; sh -c pwd; ls; cd / && pwd"})
	if res != sdk.Success() {
		t.Fatalf("result %+v, errors %q", res, e.Stream(sdk.Error))
	}
	real, _ := filepath.EvalSymlinks(dir)
	out := e.Stream(sdk.Output)
	if len(out) != 4 || out[0] != dir || (out[1] != dir && out[1] != real) || out[2] != "here.txt" || out[3] != "/" {
		t.Errorf("output %q, want %s twice, here.txt, /", out, dir)
	}

	_, res = run(t, shell.New(), &sdk.Job{Workdir: filepath.Join(dir, "missing"), Script: "echo x"})
	if res.State != sdk.Failed || !strings.Contains(res.Reason, "working directory") {
		t.Errorf("missing workdir: %+v", res)
	}
}

// The job's environment is exactly the host's, plus the SDK's BGJOB_*
// variables (served as a plugin is: they are the SDK's, not the runtime's);
// the runtime process's own environment does not leak in.
func TestEnvironment(t *testing.T) {
	t.Setenv("BGJOB_SHELL_TEST_LEAK", "leaked")
	job := &sdk.Job{
		Id:   42,
		Name: "Backup",
		Env:  env("FOO=bar", "BGJOB_JOB_ID=1", "BGJOB_RUNTIME_VERSION=0.0.1"),
		Script: `echo "shell=${BGJOB_SHELL_TEST_LEAK-unset}"
sh -c 'echo "child=${BGJOB_SHELL_TEST_LEAK-unset}"'
echo "foo=$FOO"
sh -c 'echo "$BGJOB_RUNTIME_VERSION $BGJOB_RUNTIME_ARCH $BGJOB_JOB_ID $BGJOB_JOB_NAME $FOO"'
LOCAL=1; export EXPORTED=2
sh -c 'echo "local=${LOCAL-unset} exported=$EXPORTED"'
env | cut -d= -f1 | sort | tr '\n' ' '; echo`,
	}
	cfg := &sdk.ServeConfig{Name: shell.Name, Version: "9.9.9", Runtime: shell.New()}
	got := sdktest.Protocol(t, sdk.ProtocolV2, cfg, job)
	if got.Result != sdk.Success() {
		t.Fatalf("result %+v, errors %q", got.Result, got.Stream(sdk.Error))
	}
	want := []string{
		"shell=unset",
		"child=unset",
		"foo=bar",
		"9.9.9 " + runtime.GOARCH + " 42 Backup bar",
		"local=unset exported=2",
	}
	out := got.Stream(sdk.Output)
	if len(out) != len(want)+1 || !slices.Equal(out[:len(want)], want) {
		t.Fatalf("output %q, want %q and the names", out, want)
	}
	names := strings.Fields(out[len(want)])
	allowed := []string{"BGJOB_JOB_ID", "BGJOB_JOB_NAME", "BGJOB_RUNTIME_ARCH", "BGJOB_RUNTIME_VERSION", "EXPORTED", "FOO", "LC_ALL", "PATH", "PWD", "SHLVL", "_"}
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			t.Errorf("the external command's environment has %s; all: %v", n, names)
		}
	}
}

func TestLongLine(t *testing.T) {
	const n = 200_000 // more than three 64 KiB chunks
	for name, script := range map[string]string{
		"external": `head -c 200000 /dev/zero | tr '\0' a; echo; echo next`,
		"builtin":  `s=$(head -c 200000 /dev/zero | tr '\0' a); echo "$s"; echo next`,
	} {
		t.Run(name, func(t *testing.T) {
			e, res := run(t, shell.New(), &sdk.Job{Script: script})
			if res != sdk.Success() {
				t.Fatalf("result %+v", res)
			}
			out := e.Stream(sdk.Output)
			if len(out) < 2 || out[len(out)-1] != "next" {
				t.Fatalf("%d records, last %.20q", len(out), out[len(out)-1])
			}
			if got := strings.Join(out[:len(out)-1], ""); got != strings.Repeat("a", n) {
				t.Errorf("the line came back as %d bytes in %d records", len(got), len(out)-1)
			}
		})
	}
}

func TestManyLines(t *testing.T) {
	// A few MiB through the relay, in order and complete.
	e, res := run(t, shell.New(), &sdk.Job{Script: `seq 1 300000`})
	if res != sdk.Success() {
		t.Fatalf("result %+v", res)
	}
	out := e.Stream(sdk.Output)
	if len(out) != 300000 || out[0] != "1" || out[149999] != "150000" || out[299999] != "300000" {
		t.Errorf("%d lines", len(out))
	}
	recs := e.Records()
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 {
			t.Fatalf("seq %d after %d", recs[i].Seq, recs[i-1].Seq)
		}
	}
}

func TestScriptWithoutShebang(t *testing.T) {
	dir := t.TempDir()
	script := "echo \"script $1\"\nwrite-warning from the file\n"
	if err := os.WriteFile(filepath.Join(dir, "plain.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e, res := run(t, shell.New(), &sdk.Job{Workdir: dir, Script: "./plain.sh arg"})
	if res != sdk.Success() {
		t.Fatalf("result %+v, errors %q", res, e.Stream(sdk.Error))
	}
	if out := e.Stream(sdk.Output); !slices.Equal(out, []string{"script arg"}) {
		t.Errorf("output %q", out)
	}
	if w := e.Stream(sdk.Warning); !slices.Equal(w, []string{"from the file"}) {
		t.Errorf("warnings %q", w)
	}
}

// The legacy line parses POSIX only and has four stream builtins; the
// others are unknown commands there, as on a real older release.
func TestLegacy(t *testing.T) {
	legacy := shell.New(shell.WithLegacy())
	e, res := run(t, legacy, &sdk.Job{Script: `write-output out; write-warning w; write-verbose v; write-error e`})
	if res != sdk.Success() {
		t.Fatalf("four builtins: %+v, errors %q", res, e.Stream(sdk.Error))
	}
	if out := e.Stream(sdk.Output); !slices.Equal(out, []string{"out"}) {
		t.Errorf("output %q", out)
	}
	e, res = run(t, legacy, &sdk.Job{Script: `write-progress --percent 5 x; echo "status=$?"`})
	if out := e.Stream(sdk.Output); !slices.Equal(out, []string{"status=127"}) || !slices.Contains(e.Stream(sdk.Error), "write-progress: command not found") {
		t.Errorf("write-progress under 1.x: output %q, errors %q, %+v", out, e.Stream(sdk.Error), res)
	}
	_, res = run(t, legacy, &sdk.Job{Script: `a=(x y); echo ${a[1]}`})
	if res.State != sdk.Failed || !strings.Contains(res.Reason, "syntax error") {
		t.Errorf("a Bash-only script under 1.x: %+v", res)
	}
	e, res = run(t, shell.New(), &sdk.Job{Script: `[[ 1 == 1 ]] && echo bash; a=(x y); echo ${a[1]}`})
	if res != sdk.Success() || !slices.Equal(e.Stream(sdk.Output), []string{"bash", "y"}) {
		t.Errorf("the same under 2.x: %+v %q", res, e.Stream(sdk.Output))
	}
}

// --merge-error (Job.MergeError): the SDK gives the error stream the
// output's writer, and a command's stdout and stderr then share one pipe,
// in the order it wrote them, as 2>&1 makes it; write-error still writes
// an error record.
func TestMergeError(t *testing.T) {
	cfg := &sdk.ServeConfig{Name: shell.Name, Version: shell.Version, Runtime: shell.New()}
	got := sdktest.Protocol(t, sdk.ProtocolV2, cfg, &sdk.Job{Id: 1, MergeError: true, Env: env(),
		Script: `sh -c 'i=0; while [ $i -lt 300 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done'; echo own >&2; write-error meant`})
	if got.Result != sdk.Success() {
		t.Fatalf("result %+v", got.Result)
	}
	var want []string
	for i := range 300 {
		want = append(want, fmt.Sprintf("o%d", i), fmt.Sprintf("e%d", i))
	}
	want = append(want, "own")
	if out := got.Stream(sdk.Output); !slices.Equal(out, want) {
		t.Errorf("output, %d lines, is not stdout and stderr in the order written: %q", len(out), out)
	}
	if errs := got.Stream(sdk.Error); !slices.Equal(errs, []string{"meant"}) {
		t.Errorf("errors %q, want write-error's only", errs)
	}
}

// A job started with --stdin-open reads what is sent to it (bgjob send):
// the interpreter's read builtin and the programs the job starts share the
// one input, --input first, until it is sent end of file.
func TestSendInput(t *testing.T) {
	cfg := &sdk.ServeConfig{Name: shell.Name, Version: shell.Version, Runtime: shell.New()}
	job := &sdk.Job{Id: 1, StdinOpen: true, Env: env(), Input: []byte("given\n"),
		Script: `read a; echo "read $a"; read b; echo "read $b"; cat; echo end`}
	got, errs := sdktest.ProtocolSend(t, cfg, job,
		sdktest.Send{Data: []byte("sent\n")}, sdktest.Send{Data: []byte("to cat\nand more\n")}, sdktest.Send{EOF: true})
	for i, err := range errs {
		if err != nil {
			t.Errorf("send %d: %v", i+1, err)
		}
	}
	if got.Result != sdk.Success() {
		t.Fatalf("result %+v, errors %q", got.Result, got.Stream(sdk.Error))
	}
	if out, want := fmt.Sprint(got.Stream(sdk.Output)), "[read given read sent to cat and more end]"; out != want {
		t.Errorf("output %s, want %s", out, want)
	}
}

// Jobs of one runtime running the same script at once, as a batch's thread
// children do, share its parse and the sorted part of their environment
// they have in common; each still sees only its own arguments, variables,
// functions and $BGJOB_ variables, and a job whose environment differs
// gets its own.
func TestSameScriptAtOnce(t *testing.T) {
	rt := shell.New()
	script := `f() { echo "$1:$BGJOB_ITEM:${FOO-}:$X"; }; X=$1; for i in {1..2}; do f "$1"; done; sh -c 'echo "child:$BGJOB_ITEM"'`
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := strconv.Itoa(i)
			foo := "same"
			if i%4 == 3 {
				foo = "other" + item
			}
			e, res := run(t, rt, &sdk.Job{Id: uint64(i + 1), Script: script, Args: []string{item}, Env: env("FOO="+foo, "BGJOB_ITEM="+item)})
			if res != sdk.Success() {
				t.Errorf("job %d: %+v", i, res)
				return
			}
			var got []string
			for _, r := range records(e, sdk.Output) {
				got = append(got, r.Message)
			}
			line := item + ":" + item + ":" + foo + ":" + item
			if want := []string{line, line, "child:" + item}; !slices.Equal(got, want) {
				t.Errorf("job %d printed %q, want %q", i, got, want)
			}
		}()
	}
	wg.Wait()
}

// outputIn runs script in dir, which must succeed, and returns its output
// lines joined with commas.
func outputIn(t *testing.T, dir, script string) string {
	t.Helper()
	e, res := run(t, shell.New(), &sdk.Job{Script: script, Workdir: dir})
	if res != sdk.Success() {
		t.Fatalf("result %+v", res)
	}
	return strings.Join(e.Stream(sdk.Output), ",")
}

// A command that leaves something running with its output (sh -c 'x &',
// a daemon that keeps stdout) does not hold the script up, as it would
// not a shell writing to a pipe: the script goes on once the command has
// exited, and what the leftover prints while the job runs is the job's
// output. The script held at the command until the leftover ended: here it
// waits for a file the script makes after the command, and gives up after
// 10 s, printing so, which came first.
func TestLeftoverDoesNotHoldTheScript(t *testing.T) {
	dir := t.TempDir()
	script := `sh -c '(i=0; while [ ! -e go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; ` +
		`[ -e go ] && echo late || echo gave-up; touch done) &'
echo started
touch go
while [ ! -e done ]; do sleep 0.05; done
echo end`
	if got := outputIn(t, dir, script); got != "started,late,end" {
		t.Errorf("output %q, want started,late,end: the script waited for the command's leftover", got)
	}
}

// The job's output ends when the last process holding it closes it, as
// the reader of a pipe sees: work a command leaves running with the job's
// output, the script's last, finishes and is the job's, rather than being
// ended with the script. And a command substitution's value is all that
// was written to it, a leftover's too, as a shell waits for $(...)'s pipe:
// its output does not leak into the next one.
func TestLeftoverWithTheOutputIsWaitedFor(t *testing.T) {
	dir := t.TempDir()
	script := `sh -c '(sleep 0.3; echo work-finished; touch finished) &'
echo launched`
	if got := outputIn(t, dir, script); got != "launched,work-finished" {
		t.Errorf("output %q, want launched,work-finished: the leftover's work was ended with the script", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "finished")); err != nil {
		t.Errorf("the leftover's work did not finish: %v", err)
	}

	script = `x=$(sh -c '(sleep 0.3; echo LEAK) &'; echo first)
y=$(sleep 0.6; echo second)
echo "y=[$y]"
case "$x" in *LEAK*first*|*first*LEAK*) echo x-whole;; *) echo "x=[$x]";; esac`
	if got := outputIn(t, dir, script); got != "y=[second],x-whole" {
		t.Errorf("output %q, want y=[second],x-whole: a leftover's output went to the next substitution", got)
	}
}
