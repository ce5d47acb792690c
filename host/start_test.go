package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
)

func TestStartValidation(t *testing.T) {
	th := openHost(t, "", Options{})
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
	tests := []struct {
		name string
		req  api.StartRequest
		code int
		msg  string // in the error
	}{
		{"no workdir", api.StartRequest{Script: "echo"}, api.ExitUsage, "no working directory"},
		{"relative workdir", api.StartRequest{Script: "echo", Workdir: "some/dir"}, api.ExitUsage, "not an absolute path"},
		{"missing workdir", api.StartRequest{Script: "echo", Workdir: filepath.Join(dir, "nope")}, api.ExitUsage, "does not exist"},
		{"workdir is a file", api.StartRequest{Script: "echo", Workdir: file}, api.ExitUsage, "not a directory"},
		{"script and file", api.StartRequest{Script: "echo", File: file, Workdir: dir}, api.ExitUsage, "exactly one"},
		{"script and literal path", api.StartRequest{Script: "echo", LiteralPath: file, Workdir: dir}, api.ExitUsage, "exactly one"},
		{"file and literal path", api.StartRequest{File: file, LiteralPath: file, Workdir: dir}, api.ExitUsage, "exactly one"},
		{"no script", api.StartRequest{Workdir: dir}, api.ExitUsage, "exactly one"},
		{"file matches none", api.StartRequest{File: "*.nope", Workdir: dir}, api.ExitUsage, "no file matches"},
		{"file matches two", api.StartRequest{File: "?.sh", Workdir: dir}, api.ExitUsage, "matches 2 files"},
		{"bad file pattern", api.StartRequest{File: "[", Workdir: dir}, api.ExitUsage, "bad --file pattern"},
		{"literal path missing", api.StartRequest{LiteralPath: "nope.sh", Workdir: dir}, api.ExitUsage, "does not exist"},
		{"literal path is a directory", api.StartRequest{LiteralPath: "sub", Workdir: dir}, api.ExitUsage, "is a directory"},
		{"init and init file", api.StartRequest{Script: "echo", Init: "x=1", InitFile: file, Workdir: dir}, api.ExitUsage, "--init or --init-file"},
		{"init file missing", api.StartRequest{Script: "echo", InitFile: "nope.sh", Workdir: dir}, api.ExitUsage, "does not exist"},
		{"input too big", api.StartRequest{Script: "echo", Input: make([]byte, MaxInput+1), Workdir: dir}, api.ExitUsage, "at most"},
		{"bad constraint", api.StartRequest{Script: "echo", RuntimeVersion: "not a version!!", Workdir: dir}, api.ExitUsage, "constraint"},
		{"no matching version", api.StartRequest{Script: "echo", RuntimeVersion: ">=99", Workdir: dir}, api.ExitRuntime, "no runtime"},
		{"no such runtime", api.StartRequest{Script: "echo", Runtime: "nosuch", Workdir: dir}, api.ExitRuntime, "no runtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			j, err := th.Start(&req)
			if err == nil {
				t.Fatalf("Start succeeded with job %d, want an error", j.ID)
			}
			wantCode(t, "Start", err, tt.code)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Start error %q does not mention %q", err, tt.msg)
			}
		})
	}
	js, err := th.Jobs(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 0 {
		t.Errorf("failed starts left %d jobs: %v", len(js), ids(js))
	}
	// No record log either.
	logs, _ := filepath.Glob(filepath.Join(th.home, "jobs", "*.log"))
	if len(logs) != 0 {
		t.Errorf("failed starts left record logs: %v", logs)
	}
	// The first job that does start is job 1: failed starts take no id.
	if j := th.start("echo ok"); j.ID != 1 {
		t.Errorf("the first started job has id %d, want 1", j.ID)
	}
}

func TestStartRuntimeTampered(t *testing.T) {
	// A catalog of its own, whose binary is then changed: Start refuses
	// with ExitRuntime rather than run an unverified binary.
	root := t.TempDir()
	e, err := catalog.Open(root).Install(context.Background(), shellBinary)
	if err != nil {
		t.Fatal(err)
	}
	th := openHost(t, "", Options{Runtimes: root})
	f, err := os.OpenFile(e.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tampered"))
	f.Close()
	_, err = th.Start(&api.StartRequest{Script: "echo", Workdir: t.TempDir(), Env: jobEnv})
	if err == nil {
		t.Fatal("Start with a tampered runtime binary succeeded")
	}
	wantCode(t, "Start", err, api.ExitRuntime)
	if js, _ := th.Jobs(nil, nil); len(js) != 0 {
		t.Errorf("a refused start left jobs %v", ids(js))
	}
}

func TestStartFileArgsInputAndRow(t *testing.T) {
	th := openHost(t, "", Options{})
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte("echo \"args: $*\"\nwhile read l; do echo \"in: $l\"; done\necho \"x=$x\"\npwd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "init.sh"), []byte("x=from-init\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := th.Start(&api.StartRequest{File: "r*.sh", InitFile: "init.sh", Args: []string{"a", "b c"},
		Input: []byte("one\ntwo\n"), Workdir: dir, Env: jobEnv, Type: "MyType"})
	if err != nil {
		t.Fatal(err)
	}
	if j.Command != script+" a b c" {
		t.Errorf("Command = %q, want the script's path and its args", j.Command)
	}
	if j.Name != "Job1" || j.PSJobTypeName != "MyType" || j.Location != "localhost" || j.Workdir != dir {
		t.Errorf("job row = %+v", j)
	}
	if j.InstanceID == "" || j.User == "" || j.Created.IsZero() || j.ChildJobs == nil {
		t.Errorf("job row lacks instance id, user, created or child jobs: %+v", j)
	}
	if j.Runtime.Name != "shell" || j.Runtime.Version != shellEntry.Version || j.Runtime.Path != shellEntry.Path {
		t.Errorf("Runtime = %+v, want the installed shell %s", j.Runtime, shellEntry.Version)
	}
	if j.State != api.NotStarted && j.State != api.Running {
		t.Errorf("a new job is %s", j.State)
	}
	if !j.HasMoreData {
		t.Error("a new job has HasMoreData false")
	}
	fin := th.wait("1")[0]
	if fin.State != api.Completed || fin.ExitCode == nil || *fin.ExitCode != 0 {
		t.Fatalf("job ended %s (%s), exit code %v", fin.State, fin.StateReason, fin.ExitCode)
	}
	if fin.PSBeginTime == nil || fin.PSEndTime == nil || fin.PSEndTime.Before(*fin.PSBeginTime) {
		t.Errorf("begin %v, end %v", fin.PSBeginTime, fin.PSEndTime)
	}
	got := th.receive([]string{"1"}, ReceiveOptions{}).texts()
	want := []string{"args: a b c", "in: one", "in: two", "x=from-init", dir}
	if !equalStrings(got, want) {
		t.Errorf("output %q, want %q", got, want)
	}

	// --literal-path takes the name as it is; Command overrides what the
	// table shows.
	lit := filepath.Join(dir, "[odd].sh")
	if err := os.WriteFile(lit, []byte("echo literal\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j2, err := th.Start(&api.StartRequest{LiteralPath: "[odd].sh", Workdir: dir, Env: jobEnv})
	if err != nil {
		t.Fatal(err)
	}
	if j2.Command != lit {
		t.Errorf("Command = %q, want %q", j2.Command, lit)
	}
	j3 := th.start("echo shown", func(r *api.StartRequest) { r.Command = "custom command" })
	if j3.Command != "custom command" {
		t.Errorf("Command = %q, want the request's Command", j3.Command)
	}
	th.wait("2", "3")
	if got := th.receive([]string{"2", "3"}, ReceiveOptions{}).texts(); !equalStrings(got, []string{"literal", "shown"}) {
		t.Errorf("output %q", got)
	}
}

func TestIDsNeverReusedAndDefaultNames(t *testing.T) {
	home := testHome(t)
	th := openHost(t, home, Options{})
	a := th.start("echo a")
	b := th.start("echo b", named("bee"))
	if a.ID != 1 || b.ID != 2 {
		t.Fatalf("ids %d, %d; want 1, 2", a.ID, b.ID)
	}
	if a.Name != "Job1" || b.Name != "bee" {
		t.Errorf("names %q, %q; want Job1, bee", a.Name, b.Name)
	}
	th.wait("1", "2")
	if err := th.Remove(context.Background(), []string{"2"}, false); err != nil {
		t.Fatal(err)
	}
	c := th.start("echo c")
	if c.ID != 3 || c.Name != "Job3" {
		t.Errorf("after removing job 2, the next job is %d %q; want 3 Job3", c.ID, c.Name)
	}
	th.wait("3")
	if err := th.Remove(context.Background(), []string{"*"}, false); err != nil {
		t.Fatal(err)
	}
	if js, _ := th.Jobs(nil, nil); len(js) != 0 {
		t.Fatalf("Remove * left %v", ids(js))
	}
	// Nor after a restart with an empty table.
	th.close()
	th2 := openHost(t, home, Options{})
	if d := th2.start("echo d"); d.ID != 4 || d.Name != "Job4" {
		t.Errorf("after a restart the next job is %d %q; want 4 Job4", d.ID, d.Name)
	}
}

func TestSelectors(t *testing.T) {
	th := openHost(t, "", Options{})
	alpha := th.start("echo 1", named("alpha"))
	th.start("echo 2", named("alps"))
	th.start("echo 3", named("beta"))
	th.wait("*")

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
	}
	for _, tt := range tests {
		js, err := th.Jobs(tt.sel, nil)
		if err != nil {
			t.Errorf("Jobs(%q): %v", tt.sel, err)
			continue
		}
		if got := ids(js); !idsEqual(got, tt.want...) {
			t.Errorf("Jobs(%q) = %v, want %v", tt.sel, got, tt.want)
		}
	}
	for _, sel := range [][]string{{"gamma"}, {"42"}, {"1", "x*"}, {"00000000-0000-4000-8000-000000000000"}} {
		_, err := th.Jobs(sel, nil)
		wantCode(t, "Jobs("+strings.Join(sel, ",")+")", err, api.ExitNotFound)
		if err != nil && !strings.Contains(err.Error(), sel[len(sel)-1]) {
			t.Errorf("error %q does not name the selector", err)
		}
	}
	// Every operation that takes selectors says so.
	ctx := context.Background()
	_, err := th.Wait(ctx, []string{"nope"}, false, 0)
	wantCode(t, "Wait", err, api.ExitNotFound)
	_, err = th.Stop(ctx, []string{"nope"})
	wantCode(t, "Stop", err, api.ExitNotFound)
	wantCode(t, "Remove", th.Remove(ctx, []string{"nope"}, true), api.ExitNotFound)
	wantCode(t, "Receive", th.Receive(ctx, []string{"nope"}, ReceiveOptions{}, &sink{}), api.ExitNotFound)
}
