package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "__start_bgjob",
		"zsh":  "#compdef bgjob",
		"fish": "complete -c bgjob",
	} {
		code, out, errs := runCLI(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) || errs != "" {
			t.Errorf("completion %s: exit %d, stderr %q, script without %q", shell, code, errs, want)
		}
		// The scripts ask bgjob itself for candidates.
		if !strings.Contains(out, "__complete") {
			t.Errorf("completion %s does not call __complete", shell)
		}
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		code, out, errs := runCLI(t, args...)
		if code != api.ExitUsage || out != "" || !strings.Contains(errs, "bash") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 naming the shells", args, code, out, errs)
		}
	}
}

// complete runs `bgjob __complete ARGS...` and returns the candidates
// (without descriptions) and the directive line.
func complete(t *testing.T, args ...string) (cands []string, directive string) {
	t.Helper()
	code, out, _ := runCLI(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d", args, code)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		c, _, _ := strings.Cut(l, "\t")
		cands = append(cands, c)
	}
	return cands, lines[len(lines)-1]
}

// fakeHost answers `get -o json` on the socket in home with jobs, as a
// host does, and counts the calls.
func fakeHost(t *testing.T, home string, jobs []api.Job) *atomic.Int64 {
	t.Helper()
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", api.SocketPath(home))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var calls atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hello, _ := json.Marshal(api.Hello{Version: api.WireVersion, Pid: os.Getpid()})
				_ = api.WriteFrame(c, api.FrameHello, hello)
				kind, p, err := api.ReadFrame(bufio.NewReader(c), nil)
				if err != nil || kind != api.FrameRequest {
					return
				}
				calls.Add(1)
				var req api.Request
				res := api.Result{}
				switch {
				case json.Unmarshal(p, &req) == nil && req.Op == api.OpQueue && req.Output == api.FormatJSON && req.Queue != nil && *req.Queue == (api.QueueRequest{}):
					b, _ := json.Marshal(api.Queue{Groups: []api.GroupState{{Name: "default", MaxRunning: 16}, {Name: "gpu", MaxRunning: 1}}})
					_ = api.WriteFrame(c, api.FrameStdout, b)
				case req.Op != api.OpGet || req.Output != api.FormatJSON || len(req.Jobs) > 0:
					res = api.Result{Code: api.ExitUsage, Error: "the fake host answers get -o json and queue -o json only"}
				default:
					b, _ := json.Marshal(jobs)
					_ = api.WriteFrame(c, api.FrameStdout, b)
				}
				b, _ := json.Marshal(res)
				_ = api.WriteFrame(c, api.FrameResult, b)
			}()
		}
	}()
	return &calls
}

func TestCompleteJobs(t *testing.T) {
	home, _ := isolate(t)

	// No host: nothing offered, and none started (not even its home made).
	cands, dir := complete(t, "get", "")
	if len(cands) != 0 || dir != ":4" {
		t.Errorf("with no host: %q %s, want nothing and :4 (no file completion)", cands, dir)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Fatalf("completing made the home %s (%v): a host was started", home, err)
	}

	calls := fakeHost(t, home, []api.Job{
		{ID: 1, Name: "Backup", State: api.Completed},
		{ID: 2, Name: "Build", State: api.Running},
		{ID: 3, Name: "Backup", State: api.Running},
		{ID: 12, Name: "Copy", State: api.NotStarted, Group: "batch"},
	})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"get", ""}, "1 2 3 12 Backup Build Copy"},
		{[]string{"receive", ""}, "1 2 3 12 Backup Build Copy"},
		{[]string{"wait", ""}, "1 2 3 12 Backup Build Copy"},
		{[]string{"remove", ""}, "1 2 3 12 Backup Build Copy"},
		{[]string{"stop", ""}, "2 3 12 Build Backup Copy"}, // not the finished job 1
		{[]string{"receive", "1"}, "1 12"},
		{[]string{"receive", "B"}, "Backup Build"},
		{[]string{"receive", "Backup", "B"}, "Build"}, // what is given already is left out
		{[]string{"wait", "--any", "C"}, "Copy"},
		{[]string{"get", "x"}, ""},
		// Groups: the queue's, and those of the jobs.
		{[]string{"get", "--group", ""}, "batch default gpu"},
		{[]string{"start", "--group", "g"}, "gpu"},
		{[]string{"wait", "--group", "b"}, "batch"},
		{[]string{"queue", "--group", ""}, "batch default gpu"},
	}
	for _, tt := range tests {
		cands, dir := complete(t, tt.args...)
		if strings.Join(cands, " ") != tt.want || dir != ":4" {
			t.Errorf("__complete %q = %q %s, want %q :4", tt.args, cands, dir, tt.want)
		}
	}
	if calls.Load() == 0 {
		t.Error("the host was never asked")
	}
	// Descriptions say what each candidate is.
	_, out, _ := runCLI(t, "__complete", "get", "")
	for _, want := range []string{"1\tBackup, Completed\n", "Backup\tjob 1 Completed, 3 Running\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("__complete get '' lacks %q:\n%s", want, out)
		}
	}
	// Other commands' arguments are not jobs.
	if cands, _ := complete(t, "definition", "li"); strings.Contains(strings.Join(cands, " "), "Backup") {
		t.Errorf("definition completes to jobs: %q", cands)
	}
}

// manifest writes a hand-made catalog entry's manifest.
func manifest(t *testing.T, root, name, version, goos, goarch, kind string, types ...string) {
	t.Helper()
	dir := filepath.Join(root, name, version, goos+"_"+goarch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"name": name, "version": version, "os": goos, "arch": goarch, "kind": kind, "protocol": 2}
	var jt []map[string]any
	for _, ty := range types {
		jt = append(jt, map[string]any{"name": ty})
	}
	if jt != nil {
		m["jobTypes"] = jt
	}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompleteFlags(t *testing.T) {
	_, cat := isolate(t)
	goos, goarch := runtime.GOOS, runtime.GOARCH
	manifest(t, cat, "shell", "2.0.0", goos, goarch, "runtime")
	manifest(t, cat, "shell", "2.0.0", goos, "386", "runtime")
	manifest(t, cat, "shell", "2.1.0", goos, goarch, "runtime")
	manifest(t, cat, "shell", "10.0.0", goos, goarch, "runtime")
	manifest(t, cat, "shell", "1.5.0", goos, goarch, "runtime")
	manifest(t, cat, "shell", "3.0.0-beta.1", goos, goarch, "runtime")
	manifest(t, cat, "shell", "9.9.9", "plan9", goarch, "runtime") // another OS's
	manifest(t, cat, "pwsh", "7.4.0", goos, goarch, "runtime")
	manifest(t, cat, "copy", "1.0.0", goos, goarch, "jobtype", "Copy")
	manifest(t, cat, "scheduled", "1.0.0", goos, goarch, "jobtype", "ScheduledJob")
	// An install in progress (no manifest) and a staging folder.
	for _, d := range []string{"shell/4.0.0/" + goos + "_" + goarch, ".install-1/1.0.0/" + goos + "_" + goarch} {
		if err := os.MkdirAll(filepath.Join(cat, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	var states []string
	for _, s := range api.AllStates {
		states = append(states, string(s))
	}
	tests := []struct {
		args []string
		want string
		dir  string
	}{
		{[]string{"get", "--state", ""}, strings.Join(states, " "), ":4"},
		// States match whatever their case, and the candidates begin as
		// typed (the shells keep only those), going on in the state's own.
		{[]string{"get", "--state", "Run"}, "Running", ":4"},
		{[]string{"get", "--state", "run"}, "running", ":4"},
		{[]string{"get", "--state", "r"}, "running", ":4"},
		{[]string{"wait", "--state", "RU"}, "RUnning", ":4"},
		{[]string{"get", "--state", "S"}, "Stopped Suspended Suspending Stopping", ":4"},
		{[]string{"stop", "--state", "s"}, "stopped suspended suspending stopping", ":4"},
		{[]string{"get", "--state", "Runningx"}, "", ":4"},
		{[]string{"start", "--runtime-version", ""}, "10.0.0 3.0.0-beta.1 2.1.0 2.0.0 1.5.0", ":4"},
		{[]string{"start", "--runtime-version", "2"}, "2.1.0 2.0.0", ":4"},
		{[]string{"start", "--runtime", "pwsh", "--runtime-version", ""}, "7.4.0", ":4"},
		{[]string{"start", "--runtime", ""}, "pwsh shell", ":4"},
		{[]string{"start", "--type", ""}, "BackgroundJob Copy ScheduledJob", ":4"},
		{[]string{"start", "--type", "S"}, "ScheduledJob", ":4"},
		{[]string{"get", "--type", ""}, "BackgroundJob Copy ScheduledJob", ":4"},
		// Each -o offers what it takes.
		{[]string{"get", "-o", ""}, "table wide json id", ":4"},
		{[]string{"get", "-o", "w"}, "wide", ":4"},
		{[]string{"start", "-o", ""}, "table json id", ":4"},
		{[]string{"restart", "-o", ""}, "table json id", ":4"},
		{[]string{"wait", "-o", ""}, "table json", ":4"},
		{[]string{"receive", "-o", ""}, "text json", ":4"},
		{[]string{"queue", "-o", ""}, "table json", ":4"},
		{[]string{"start", "--workdir", ""}, "", ":16"}, // directories
		{[]string{"completion", ""}, "bash zsh fish", ":4"},
		{[]string{"runtime", ""}, "list install remove verify", ":4"},
		{[]string{"runtime", "re"}, "remove", ":4"},
		{[]string{"runtime", "remove", ""}, "copy pwsh scheduled shell", ":4"},
		{[]string{"runtime", "remove", "shell", ""}, "10.0.0 9.9.9 3.0.0-beta.1 2.1.0 2.0.0 1.5.0", ":4"},
		{[]string{"runtime", "remove", "--arch", "386", "shell", "2"}, "2.1.0 2.0.0", ":4"},
		{[]string{"runtime", "remove", "shell", "2.0.0", ""}, "", ":4"},
		{[]string{"runtime", "install", ""}, "", ":0"}, // files
		{[]string{"definition", ""}, "list show enable disable reload", ":4"},
	}
	for _, tt := range tests {
		cands, dir := complete(t, tt.args...)
		if strings.Join(cands, " ") != tt.want || dir != tt.dir {
			t.Errorf("__complete %q = %q %s, want %q %s", tt.args, cands, dir, tt.want, tt.dir)
		}
	}
	// The architectures are described.
	_, out, _ := runCLI(t, "__complete", "start", "--runtime-version", "2.0")
	if !strings.Contains(out, "2.0.0\tshell 2.0.0 ("+goarch+", 386)") {
		t.Errorf("--runtime-version 2.0: %q", out)
	}

	// No catalog: nothing, and no error.
	t.Setenv("BGJOB_RUNTIMES", filepath.Join(cat, "none"))
	if cands, _ := complete(t, "start", "--runtime-version", ""); len(cands) != 0 {
		t.Errorf("no catalog: %q", cands)
	}
	if cands, _ := complete(t, "start", "--type", ""); strings.Join(cands, " ") != "BackgroundJob" {
		t.Errorf("no catalog: types %q", cands)
	}
}

func TestCompareVersions(t *testing.T) {
	// Oldest first.
	order := []string{"0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.0.1", "1.2", "1.10.0", "2.0.0+build.5", "10.0.0"}
	for i := range order {
		for j := range order {
			want := cmpInt(i, j)
			if got := compareVersions(order[i], order[j]); got != want {
				t.Errorf("compareVersions(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if compareVersions("x", "y") >= 0 || compareVersions("1.0.0.0", "1.0.0") == 0 {
		t.Error("versions that do not parse are not compared as strings")
	}
}

// TestBashCompletionPlain: the bash script completes in a bash without the
// bash-completion package (it once failed on every TAB with
// "_get_comp_words_by_ref: command not found"), and with it where it is
// installed.
func TestBashCompletionPlain(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin := built(t)
	isolate(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// comp LINE [WORD...]: complete LINE, its words as bash splits them
	// (by default at blanks), the cursor at its end; print the candidates.
	const harness = `
comp() {
    COMP_LINE=$1
    COMP_POINT=${#COMP_LINE}
    shift
    if (($#)); then
        COMP_WORDS=("$@")
    else
        read -ra COMP_WORDS <<<"$COMP_LINE"
        [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
    fi
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    __start_bgjob
    local IFS=' '
    echo "$COMP_LINE => ${COMPREPLY[*]}"
}
source <(bgjob completion bash)
comp 'bgjob get --state r'
comp 'bgjob get --state S'
comp 'bgjob get -o '
comp 'bgjob rem'
comp 'bgjob start --workdir su'
comp 'bgjob get --state=Ru' bgjob get --state = Ru
`
	want := []string{
		"bgjob get --state r => running",
		"bgjob get --state S => Stopped Suspended Suspending Stopping",
		"bgjob get -o  => table wide json id",
		"bgjob rem => remove",
		"bgjob start --workdir su => sub",
		"bgjob get --state=Ru => Running",
	}
	run := func(prelude string) {
		t.Helper()
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prelude+harness)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "BASH_ENV=")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("bash: %v\n%s", err, stderr.String())
		}
		got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%scompleted:\n%s\nwant:\n%s", prelude, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// compopt complains outside a real completion; nothing else may.
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if line != "" && !strings.Contains(line, "compopt: not currently executing completion function") {
				t.Errorf("%sbash said: %s", prelude, line)
			}
		}
	}
	run("")
	// The package's script, where installed (or where
	// $BGJOB_TEST_BASH_COMPLETION says).
	script := os.Getenv("BGJOB_TEST_BASH_COMPLETION")
	if script == "" {
		script = "/usr/share/bash-completion/bash_completion"
	}
	if _, err := os.Stat(script); err == nil {
		run("source " + script + "\n")
	}
}

// Every -o lists the formats it takes, for checkOutput and completion.
func TestOutputFormatsListed(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("output") != nil && len(outputFormats(c)) == 0 {
			t.Errorf("%s: -o lists no formats", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}
