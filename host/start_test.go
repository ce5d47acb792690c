//go:build unix

package host_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

func TestStartValidation(t *testing.T) {
	th := fake(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(file, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.sh", "b.sh"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("echo\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A named pipe nobody writes to: reading it would block for ever.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  api.StartRequest
		kind error
		msg  string // in the error
	}{
		{"no workdir", api.StartRequest{Script: "echo"}, host.ErrBadRequest, "no working directory"},
		{"relative workdir", api.StartRequest{Script: "echo", Workdir: "some/dir"}, host.ErrBadRequest, "not an absolute path"},
		{"missing workdir", api.StartRequest{Script: "echo", Workdir: filepath.Join(dir, "nope")}, host.ErrBadRequest, "does not exist"},
		{"workdir is a file", api.StartRequest{Script: "echo", Workdir: file}, host.ErrBadRequest, "not a directory"},
		{"script and file", api.StartRequest{Script: "echo", File: file, Workdir: dir}, host.ErrBadRequest, "exactly one"},
		{"no script", api.StartRequest{Workdir: dir}, host.ErrBadRequest, "the script is empty"},
		{"blank script", api.StartRequest{Script: " \t\n", Workdir: dir}, host.ErrBadRequest, "the script is empty"},
		{"script and literal path", api.StartRequest{Script: "echo", LiteralPath: file, Workdir: dir}, host.ErrBadRequest, "exactly one"},
		{"file and literal path", api.StartRequest{File: file, LiteralPath: file, Workdir: dir}, host.ErrBadRequest, "exactly one"},
		{"file matches none", api.StartRequest{File: "*.nope", Workdir: dir}, host.ErrBadRequest, "no file matches"},
		{"file matches two", api.StartRequest{File: "?.sh", Workdir: dir}, host.ErrBadRequest, "matches 2 files"},
		{"bad file pattern", api.StartRequest{File: "[", Workdir: dir}, host.ErrBadRequest, "bad --file pattern"},
		{"literal path missing", api.StartRequest{LiteralPath: "nope.sh", Workdir: dir}, host.ErrBadRequest, "does not exist"},
		{"literal path is a directory", api.StartRequest{LiteralPath: "sub", Workdir: dir}, host.ErrBadRequest, "is a directory"},
		{"literal path is a fifo", api.StartRequest{LiteralPath: "fifo.sh", Workdir: dir}, host.ErrBadRequest, "not a regular file"},
		{"file is a fifo", api.StartRequest{File: "fif?.sh", Workdir: dir}, host.ErrBadRequest, "not a regular file"},
		{"init file is a fifo", api.StartRequest{Script: "echo", InitFile: "fifo.sh", Workdir: dir}, host.ErrBadRequest, "not a regular file"},
		{"init and init file", api.StartRequest{Script: "echo", Init: "x=1", InitFile: file, Workdir: dir}, host.ErrBadRequest, "--init or --init-file"},
		{"init file missing", api.StartRequest{Script: "echo", InitFile: "nope.sh", Workdir: dir}, host.ErrBadRequest, "does not exist"},
		{"input too big", api.StartRequest{Script: "echo", Input: make([]byte, host.MaxInput+1), Workdir: dir}, host.ErrBadRequest, "at most"},
		{"bad constraint", api.StartRequest{Script: "echo", RuntimeVersion: "not a version!!", Workdir: dir}, host.ErrBadRequest, "constraint"},
		{"no matching version", api.StartRequest{Script: "echo", RuntimeVersion: ">=99", Workdir: dir}, host.ErrNoRuntime, "no runtime"},
		{"no such runtime", api.StartRequest{Script: "echo", Runtime: "nosuch", Workdir: dir}, host.ErrNoRuntime, "no runtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			j, err := th.Host.Start(context.Background(), &req)
			if err == nil {
				t.Fatalf("Start succeeded with job %d, want an error", j.ID)
			}
			wantKind(t, "Start", err, tt.kind)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Start error %q does not mention %q", err, tt.msg)
			}
		})
	}
	js, err := th.Jobs(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 0 {
		t.Errorf("failed starts left %d jobs: %v", len(js), ids(js))
	}
	// No record log either.
	logs, _ := filepath.Glob(filepath.Join(th.Dir, "jobs", "*.log"))
	if len(logs) != 0 {
		t.Errorf("failed starts left record logs: %v", logs)
	}
	// The first job that does start is job 1: failed starts take no id.
	if j := th.Start("echo ok"); j.ID != 1 {
		t.Errorf("the first started job has id %d, want 1", j.ID)
	}
}

func TestStartRuntimeTampered(t *testing.T) {
	opts, l := hosttest.Fake(t)
	th := hosttest.Open(t, "", opts)
	bins, _ := filepath.Glob(filepath.Join(opts.Runtimes, "shell", "*", "*", "bgjob-shell"))
	if len(bins) != 1 {
		t.Fatalf("runtime binaries %v", bins)
	}
	f, err := os.OpenFile(bins[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tampered"))
	f.Close()
	_, err = th.Host.Start(context.Background(), &api.StartRequest{Script: "echo", Workdir: t.TempDir(), Env: hosttest.JobEnv})
	if err == nil {
		t.Fatal("Start with a tampered runtime binary succeeded")
	}
	wantKind(t, "Start", err, host.ErrVerification)
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Errorf("a refused start left jobs %v", ids(js))
	}
	if l.Launches() != 0 {
		t.Errorf("a tampered runtime was launched %d times", l.Launches())
	}
}

// A type no plugin serves is refused, naming the installed types, and so
// are flags that make no sense for a typed job; no job is created.
func TestStartUnknownType(t *testing.T) {
	th := fake(t)
	dir := t.TempDir()
	_, err := th.Host.Start(context.Background(), &api.StartRequest{Type: "MyType", Args: []string{"x"}, Workdir: dir, Env: hosttest.JobEnv})
	wantKind(t, "Start --type MyType", err, host.ErrNoRuntime)
	if err == nil || !strings.Contains(err.Error(), `no job type "MyType" is installed; the job types here: BackgroundJob (plain scripts)`) {
		t.Errorf("Start --type MyType: %v", err)
	}
	_, err = th.Host.Start(context.Background(), &api.StartRequest{Type: "MyType", File: "x.sh", Workdir: dir, Env: hosttest.JobEnv})
	wantKind(t, "Start --type with --file", err, host.ErrBadRequest)
	_, err = th.Host.Start(context.Background(), &api.StartRequest{Script: "echo", DefinitionPath: dir, Workdir: dir, Env: hosttest.JobEnv})
	wantKind(t, "Start --definition-path alone", err, host.ErrBadRequest)
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Errorf("refused starts left jobs %v", ids(js))
	}
}

func TestStartRow(t *testing.T) {
	th := fake(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte("args\ncat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := th.Host.Start(context.Background(), &api.StartRequest{File: "r*.sh", Args: []string{"a", "b c"},
		Input: []byte("one\ntwo\n"), Workdir: dir, Env: hosttest.JobEnv})
	if err != nil {
		t.Fatal(err)
	}
	if j.Command != script {
		t.Errorf("Command = %q, want the script's path (not its args)", j.Command)
	}
	if j.Name != "Job1" || j.PSJobTypeName != "BackgroundJob" || j.Location != "localhost" || j.Workdir != dir {
		t.Errorf("job row = %+v", j)
	}
	if j.InstanceID == "" || j.User == "" || j.Created.IsZero() || j.ChildJobs == nil {
		t.Errorf("job row lacks instance id, user, created or child jobs: %+v", j)
	}
	if j.Runtime.Name != "shell" || j.Runtime.Version != "2.0.0" || j.Runtime.Protocol != 2 || !strings.HasSuffix(j.Runtime.Path, "bgjob-shell") {
		t.Errorf("Runtime = %+v, want the installed shell 2.0.0", j.Runtime)
	}
	if j.State != api.NotStarted && j.State != api.Running {
		t.Errorf("a new job is %s", j.State)
	}
	if !j.HasMoreData {
		t.Error("a new job has HasMoreData false")
	}
	fin := th.Await("1")[0]
	if fin.State != api.Completed || fin.ExitCode == nil || *fin.ExitCode != 0 {
		t.Fatalf("job ended %s (%s), exit code %v", fin.State, fin.StateReason, fin.ExitCode)
	}
	if fin.PSBeginTime == nil || fin.PSEndTime == nil || fin.PSEndTime.Before(*fin.PSBeginTime) {
		t.Errorf("begin %v, end %v", fin.PSBeginTime, fin.PSEndTime)
	}
	// The runtime got the file's script, the arguments and the input.
	got := th.Take([]string{"1"}, host.ReceiveOptions{}).Texts()
	if want := []string{"args: a b c", "one", "two"}; !equalStrings(got, want) {
		t.Errorf("output %q, want %q", got, want)
	}

	// --literal-path takes the name as it is; Command overrides what the
	// table shows.
	lit := filepath.Join(dir, "[odd].sh")
	if err := os.WriteFile(lit, []byte("echo literal\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j2, err := th.Host.Start(context.Background(), &api.StartRequest{LiteralPath: "[odd].sh", Workdir: dir, Env: hosttest.JobEnv})
	if err != nil {
		t.Fatal(err)
	}
	if j2.Command != lit {
		t.Errorf("Command = %q, want %q", j2.Command, lit)
	}
	j3 := th.Start("echo shown", func(r *api.StartRequest) { r.Command = "custom command" })
	if j3.Command != "custom command" {
		t.Errorf("Command = %q, want the request's Command", j3.Command)
	}
	th.Await("2", "3")
	if got := th.Take([]string{"2", "3"}, host.ReceiveOptions{}).Texts(); !equalStrings(got, []string{"literal", "shown"}) {
		t.Errorf("output %q", got)
	}
}

func TestIDsNeverReusedAndDefaultNames(t *testing.T) {
	opts, _ := hosttest.Fake(t)
	home := hosttest.Home(t)
	th := hosttest.Open(t, home, opts)
	a := th.Start("echo a")
	b := th.Start("echo b", named("bee"))
	if a.ID != 1 || b.ID != 2 {
		t.Fatalf("ids %d, %d; want 1, 2", a.ID, b.ID)
	}
	if a.Name != "Job1" || b.Name != "bee" {
		t.Errorf("names %q, %q; want Job1, bee", a.Name, b.Name)
	}
	th.Await("1", "2")
	if err := th.Remove(context.Background(), []string{"2"}, false); err != nil {
		t.Fatal(err)
	}
	c := th.Start("echo c")
	if c.ID != 3 || c.Name != "Job3" {
		t.Errorf("after removing job 2, the next job is %d %q; want 3 Job3", c.ID, c.Name)
	}
	th.Await("3")
	if err := th.Remove(context.Background(), []string{"*"}, false); err != nil {
		t.Fatal(err)
	}
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 {
		t.Fatalf("Remove * left %v", ids(js))
	}
	// Nor after a restart with an empty table.
	th.Close()
	th2 := hosttest.Open(t, home, opts)
	if d := th2.Start("echo d"); d.ID != 4 || d.Name != "Job4" {
		t.Errorf("after a restart the next job is %d %q; want 4 Job4", d.ID, d.Name)
	}
}

func TestSelectors(t *testing.T) {
	th := fake(t)
	alpha := th.Start("echo 1", named("alpha"))
	th.Start("echo 2", named("alps"))
	th.Start("echo 3", named("beta"))
	th.Await("*")

	tests := []struct {
		sel  []string
		want []uint64
	}{
		{nil, []uint64{1, 2, 3}},
		{[]string{"2"}, []uint64{2}},
		{[]string{"alpha"}, []uint64{1}},
		{[]string{"al*"}, []uint64{1, 2}},
		{[]string{"?eta"}, []uint64{3}},
		{[]string{"[ab]*"}, []uint64{1, 2, 3}},
		{[]string{alpha.InstanceID}, []uint64{1}},
		{[]string{strings.ToUpper(alpha.InstanceID)}, []uint64{1}},
		// Each job once, in id order.
		{[]string{"3", "al*", "alpha", "1"}, []uint64{1, 2, 3}},
		// A pattern may match nothing, as in PowerShell.
		{[]string{"1", "x*"}, []uint64{1}},
		{[]string{"x*"}, nil},
	}
	for _, tt := range tests {
		js, err := th.Jobs(context.Background(), tt.sel, nil)
		if err != nil {
			t.Errorf("Jobs(%q): %v", tt.sel, err)
			continue
		}
		if got := ids(js); !idsEqual(got, tt.want...) {
			t.Errorf("Jobs(%q) = %v, want %v", tt.sel, got, tt.want)
		}
	}
	for _, sel := range [][]string{{"gamma"}, {"42"}, {"x*", "gamma"}, {"00000000-0000-4000-8000-000000000000"}} {
		_, err := th.Jobs(context.Background(), sel, nil)
		wantKind(t, "Jobs("+strings.Join(sel, ",")+")", err, host.ErrNotFound)
		if err != nil && !strings.Contains(err.Error(), sel[len(sel)-1]) {
			t.Errorf("error %q does not name the selector", err)
		}
	}
	// Every operation that takes selectors says so.
	ctx := context.Background()
	_, err := th.Wait(ctx, []string{"nope"}, false, 0)
	wantKind(t, "Wait", err, host.ErrNotFound)
	_, err = th.Stop(ctx, []string{"nope"})
	wantKind(t, "Stop", err, host.ErrNotFound)
	wantKind(t, "Remove", th.Remove(ctx, []string{"nope"}, true), host.ErrNotFound)
	wantKind(t, "Receive", th.Receive(ctx, []string{"nope"}, host.ReceiveOptions{}, &hosttest.Sink{}), host.ErrNotFound)
}

func TestSecondOpenConflicts(t *testing.T) {
	opts, _ := hosttest.Fake(t)
	home := hosttest.Home(t)
	th := hosttest.Open(t, home, opts)
	o2 := opts
	o2.Home = home
	h2, err := host.Open(o2)
	if err == nil {
		h2.Close()
		t.Fatal("a second host opened on a home in use")
	}
	wantKind(t, "second Open", err, host.ErrHostRunning)
	if !strings.Contains(err.Error(), home) {
		t.Errorf("error %q does not name the home", err)
	}
	// The first host is unharmed.
	th.Start("echo still")
	th.Await("1")
	pid, err := os.ReadFile(filepath.Join(home, "host.pid"))
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("host.pid = %q, %v; want this process", pid, err)
	}
	th.Close()
	if _, err := os.Stat(filepath.Join(home, "host.pid")); !os.IsNotExist(err) {
		t.Errorf("host.pid after Close: %v", err)
	}
	th2 := hosttest.Open(t, home, opts)
	if j := th2.Job("1"); j.State != api.Completed {
		t.Errorf("job 1 is %s", j.State)
	}
}

func TestOpenWithoutHome(t *testing.T) {
	if h, err := host.Open(host.Options{}); err == nil {
		h.Close()
		t.Fatal("Open without a home succeeded")
	}
}

// A job's payload lives beside the table, not in it: a large input leaves
// the table small, reaches the runtime whole, and goes with the job.
func TestPayloadOutsideTable(t *testing.T) {
	th := fake(t)
	input := bytes.Repeat([]byte("0123456789abcdef\n"), 1<<18) // 4.25 MiB
	env := append([]string{"BIG=" + strings.Repeat("e", 1<<20)}, hosttest.JobEnv...)
	j, err := th.Host.Start(context.Background(), &api.StartRequest{Script: "cat", Input: input, Env: env, Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	th.Await("1")
	got := th.Take([]string{"1"}, host.ReceiveOptions{Keep: true}).Texts()
	if len(got) != 1<<18 || got[0] != "0123456789abcdef" {
		t.Errorf("the job got %d lines of input back, want %d", len(got), 1<<18)
	}
	if fi, err := os.Stat(filepath.Join(th.Dir, "jobs.db")); err != nil || fi.Size() > 1<<20 {
		t.Errorf("the job table is %d bytes with one job of %d bytes of input and environment (%v)", fi.Size(), len(input)+len(env[0]), err)
	}
	payload := filepath.Join(th.Dir, "jobs", fmt.Sprintf("%d.job", j.ID))
	if _, err := os.Stat(payload); err != nil {
		t.Fatalf("the payload file: %v", err)
	}
	if err := th.Remove(context.Background(), []string{"1"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(payload); !os.IsNotExist(err) {
		t.Errorf("the payload outlived its job: %v", err)
	}
}

// Resolution across versions, architectures and protocols, with and without
// --run-as-32: the job's row says which runtime, architecture and protocol
// it got, and what cannot be had fails before a job exists.
func TestResolveVersionsArchesProtocols(t *testing.T) {
	a32, ok := catalog.Arch32(runtime.GOOS, runtime.GOARCH)
	if !ok {
		t.Skip("no 32-bit sibling of " + runtime.GOARCH)
	}
	opts, _ := hosttest.Fake(t)
	opts.Runtimes = fakert.Catalog(t,
		fakert.Entry{Name: "shell", Version: "1.5.0", Protocols: []int{1}},
		fakert.Entry{Name: "shell", Version: "1.5.0", Arch: a32, Protocols: []int{1}},
		fakert.Entry{Name: "shell", Version: "2.0.0"},
		fakert.Entry{Name: "shell", Version: "2.1.0", Protocols: []int{1, 2}},
		fakert.Entry{Name: "shell", Version: "2.1.0", Arch: a32},
		fakert.Entry{Name: "shell", Version: "2.2.0+build.7"},
		fakert.Entry{Name: "shell", Version: "3.0.0-beta.1"},
		fakert.Entry{Name: "shell", Version: "3.0.0-beta.1", Arch: a32},
	)
	th := hosttest.Open(t, "", opts)
	native := runtime.GOARCH
	tests := []struct {
		constraint string
		run32      bool
		version    string // "" : no runtime
		arch       string
		protocol   int
	}{
		{"", false, "2.2.0+build.7", native, 2},
		{"", true, "2.1.0", a32, 2},
		{"=1.5.0", false, "1.5.0", native, 1},
		{"~1", true, "1.5.0", a32, 1},
		{"^2.0", false, "2.2.0+build.7", native, 2},
		{"~2.1", false, "2.1.0", native, 2}, // serves 1 and 2: 2 it is
		{"~2.1", true, "2.1.0", a32, 2},
		{">=2.0, <2.1", false, "2.0.0", native, 2},
		{">=2.0, <2.1", true, "", "", 0},
		{"1.x || 2.0.x", false, "2.0.0", native, 2},
		{"1.x || 2.0.x", true, "1.5.0", a32, 1},
		{"2.2.0", false, "2.2.0+build.7", native, 2}, // build metadata does not count
		{">=3", false, "", "", 0},                    // no prerelease unless named
		{">=3.0.0-0", false, "3.0.0-beta.1", native, 2},
		{">=3.0.0-0", true, "3.0.0-beta.1", a32, 2},
		{">=4", true, "", "", 0},
	}
	for _, tt := range tests {
		j, err := th.Host.Start(context.Background(), &api.StartRequest{Script: "echo", Workdir: t.TempDir(), RuntimeVersion: tt.constraint, RunAs32: tt.run32})
		what := fmt.Sprintf("%q run-as-32=%v", tt.constraint, tt.run32)
		if tt.version == "" {
			wantKind(t, what, err, host.ErrNoRuntime)
			if err != nil && tt.run32 && !strings.Contains(err.Error(), "for "+runtime.GOOS+"/"+a32) {
				t.Errorf("%s: %v does not name the 32-bit platform", what, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		if r := j.Runtime; r.Version != tt.version || r.Arch != tt.arch || r.Protocol != tt.protocol {
			t.Errorf("%s: got %s %s protocol %d, want %s %s protocol %d", what, r.Version, r.Arch, r.Protocol, tt.version, tt.arch, tt.protocol)
		}
	}
	// An invalid constraint is quoted; with nothing installed, that is said.
	_, err := th.Host.Start(context.Background(), &api.StartRequest{Script: "echo", Workdir: t.TempDir(), RuntimeVersion: ">>1", RunAs32: true})
	if wantKind(t, "bad constraint", err, host.ErrBadRequest); err != nil && !strings.Contains(err.Error(), `">>1"`) {
		t.Errorf("the error %q does not quote the constraint", err)
	}
	_, err = th.Host.Start(context.Background(), &api.StartRequest{Script: "echo", Workdir: t.TempDir(), Runtime: "pwsh", RunAs32: true})
	wantKind(t, "nothing installed", err, host.ErrNoRuntime)
}

// Where the kernel cannot run 32-bit programs, --run-as-32 says so before a
// job exists (here the 32-bit build is bytes no kernel runs, as a 386
// binary is to a kernel without IA-32 emulation).
func TestRunAs32Refused(t *testing.T) {
	a32, ok := catalog.Arch32(runtime.GOOS, runtime.GOARCH)
	if !ok {
		t.Skip("no 32-bit sibling of " + runtime.GOARCH)
	}
	opts, l := hosttest.Fake(t)
	opts.Runtimes = fakert.Catalog(t,
		fakert.Entry{Name: "shell", Version: "2.1.0"},
		fakert.Entry{Name: "shell", Version: "2.1.0", Arch: a32, Content: []byte("\x7fELF\x01\x01\x01 not for this kernel")},
	)
	th := hosttest.Open(t, "", opts)
	for i := 0; i < 2; i++ { // the second answer comes from the probe's memory
		_, err := th.Host.Start(context.Background(), &api.StartRequest{Script: "echo", Workdir: t.TempDir(), RunAs32: true})
		wantKind(t, "run-as-32 on a kernel without it", err, host.ErrNoRuntime)
		if err != nil && !strings.Contains(err.Error(), "does not run 32-bit") {
			t.Errorf("the error %q does not say why", err)
		}
	}
	if js, _ := th.Jobs(context.Background(), nil, nil); len(js) != 0 || l.Launches() != 0 {
		t.Errorf("a refused --run-as-32 left jobs %v, launches %d", ids(js), l.Launches())
	}
	// The native build still runs.
	if j := th.Start("echo fine"); j.Runtime.Arch != runtime.GOARCH {
		t.Errorf("native job on %s", j.Runtime.Arch)
	}
}
