package sdktest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

func TestSplitChunk(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"\n", []string{""}},
		{"\n\n", []string{"", ""}},
		{"a\nb", []string{"a", "b"}},
		{"a\nb\n", []string{"a", "b"}},
		{"a\n\nb\n", []string{"a", "", "b"}},
	} {
		got := sdktest.SplitChunk([]byte(tc.in))
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("SplitChunk(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	rt := sdk.RuntimeFunc(func(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
		w := out.Writer(sdk.Output)
		fmt.Fprint(w, "one\ntw")
		_ = out.Emit(sdk.NewMessage(sdk.Verbose, "verbose"))
		fmt.Fprint(w, "o\nthree\n\nfour")
		fmt.Fprint(out.Writer(sdk.Error), "oops\n")
		return sdk.Failure(4, job.Name)
	})
	e, res := sdktest.Run(context.Background(), rt, &sdk.Job{Name: "named"})
	if res != sdk.Failure(4, "named") {
		t.Errorf("result %+v", res)
	}
	type rec struct {
		seq    uint64
		stream sdk.Stream
		msg    string
	}
	var got []rec
	for _, r := range e.Records() {
		got = append(got, rec{r.Seq, r.Stream, r.Message})
	}
	want := []rec{
		{1, sdk.Output, "one"},
		{2, sdk.Verbose, "verbose"},
		{3, sdk.Output, "two"},
		{4, sdk.Output, "three"},
		{5, sdk.Output, ""},
		{6, sdk.Error, "oops"},
		{7, sdk.Output, "four"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records\n %v\nwant\n %v", got, want)
	}
	if got := e.Stream(sdk.Output); strings.Join(got, "|") != "one|two|three||four" {
		t.Errorf("Stream(Output) = %q", got)
	}
	if got := e.Stream(sdk.Debug); got != nil {
		t.Errorf("Stream(Debug) = %q, want none", got)
	}
}

// TestFlushOrder: sdktest.Emitter.Flush is documented to flush "as the SDK
// does when Run returns", and the SDK flushes its writers in a fixed stream
// order (Output, Error, Progress, Verbose, Debug, Warning, Information; see
// emitter.flush in emitter.go). sdktest ranges over a map instead
// (sdktest.go:61-63), so unfinished lines of two streams are numbered in a
// random order that changes from run to run, and a plugin author's test
// comparing Records() is flaky.
func TestFlushOrder(t *testing.T) {
	rt := sdk.RuntimeFunc(func(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
		fmt.Fprint(out.Writer(sdk.Warning), "warning tail")
		fmt.Fprint(out.Writer(sdk.Output), "output tail")
		fmt.Fprint(out.Writer(sdk.Error), "error tail")
		return sdk.Success()
	})
	orders := map[string]int{}
	for range 50 {
		e, _ := sdktest.Run(context.Background(), rt, &sdk.Job{})
		var got []string
		for _, r := range e.Records() {
			got = append(got, r.Message)
		}
		orders[strings.Join(got, ", ")]++
	}
	const want = "output tail, error tail, warning tail"
	if len(orders) != 1 || orders[want] == 0 {
		t.Errorf("flushed tails came in these orders (times seen): %v; want always %q", orders, want)
	}
}

// TestEmitterConcurrent numbers records from many goroutines uniquely and
// without gaps. Run with -race.
func TestEmitterConcurrent(t *testing.T) {
	e := sdktest.NewEmitter()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if i%2 == 0 {
					_ = e.Emit(sdk.NewOutput(fmt.Sprint(g, i), ""))
				} else {
					fmt.Fprintf(e.Writer(sdk.Verbose), "g%d\nl%d\n", g, i)
				}
			}
		})
	}
	wg.Wait()
	e.Flush()
	recs := e.Records()
	if len(recs) != 8*(100+200) {
		t.Fatalf("%d records, want %d", len(recs), 8*300)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
}

// A runtime served over either protocol, in process: protocol 2 carries
// every stream, protocol 1 four, as lines.
func TestProtocol(t *testing.T) {
	cfg := &sdk.ServeConfig{Name: "t", Version: "1.0.0", Protocols: []int{sdk.ProtocolV1, sdk.ProtocolV2},
		Runtime: sdk.RuntimeFunc(func(_ context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
			fmt.Fprintf(out.Writer(sdk.Output), "hello %s\nsecond line\n", job.Args[0])
			_ = out.Emit(sdk.NewProgress(&sdk.ProgressDetail{Percent: 50}))
			_ = out.Emit(sdk.NewMessage(sdk.Warning, "careful"))
			_ = out.Emit(sdk.NewMessage(sdk.Debug, "dbg"))
			return sdk.Failure(4, "exit status 4")
		})}
	job := &sdk.Job{Id: 1, Args: []string{"you"}}
	for _, v := range []int{sdk.ProtocolV1, sdk.ProtocolV2} {
		got := sdktest.Protocol(t, v, cfg, job)
		if out := got.Stream(sdk.Output); fmt.Sprint(out) != "[hello you second line]" {
			t.Errorf("protocol %d: output %q", v, out)
		}
		if w := got.Stream(sdk.Warning); fmt.Sprint(w) != "[careful]" {
			t.Errorf("protocol %d: warnings %q", v, w)
		}
		if got.Result.State != sdk.Failed || got.Result.ExitCode != 4 {
			t.Errorf("protocol %d: result %+v", v, got.Result)
		}
		progress, debug, verbose := len(got.Stream(sdk.Progress)), len(got.Stream(sdk.Debug)), len(got.Stream(sdk.Verbose))
		if v == sdk.ProtocolV2 && (progress != 1 || debug != 1) {
			t.Errorf("protocol 2 lost progress or debug: %d, %d", progress, debug)
		}
		if v == sdk.ProtocolV1 && (progress != 0 || debug != 0 || verbose != 1) {
			t.Errorf("protocol 1: progress %d, debug %d, verbose %d; want debug folded into verbose, progress left out", progress, debug, verbose)
		}
	}
}

// The one rule of the working directory (sdk.Job's Workdir): the job runs
// in it, in a plugin's process and in Protocol alike; the test is back
// where it was once Protocol returns.
func TestProtocolWorkdir(t *testing.T) {
	dir := t.TempDir()
	before, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &sdk.ServeConfig{Name: "t", Version: "1.0.0", Protocols: []int{sdk.ProtocolV1, sdk.ProtocolV2},
		Runtime: sdk.RuntimeFunc(func(_ context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
			wd, err := os.Getwd()
			if err != nil {
				return sdk.Failure(1, err.Error())
			}
			if err := os.WriteFile("here.txt", []byte("x"), 0o666); err != nil {
				return sdk.Failure(1, err.Error())
			}
			_ = out.Emit(sdk.NewOutput(wd, ""))
			return sdk.Success()
		})}
	for _, v := range []int{sdk.ProtocolV1, sdk.ProtocolV2} {
		got := sdktest.Protocol(t, v, cfg, &sdk.Job{Id: 1, Workdir: dir})
		real, _ := filepath.EvalSymlinks(dir)
		if out := got.Stream(sdk.Output); len(out) != 1 || (out[0] != dir && out[0] != real) {
			t.Errorf("protocol %d: the job ran in %q, want %s (%+v)", v, out, dir, got.Result)
		}
		if _, err := os.Stat(filepath.Join(dir, "here.txt")); err != nil {
			t.Errorf("protocol %d: a relative path is not in the job's directory: %v", v, err)
		}
		if now, _ := os.Getwd(); now != before {
			t.Errorf("protocol %d: after the job the test is in %s, want %s", v, now, before)
		}
	}
}

// sdktest's harness prints nothing to the test's output: go-plugin's own
// test connection logs every connection's end ("[DEBUG] stdio EOF") to
// stderr. The test runs itself in a child process to see its stderr.
func TestProtocolQuiet(t *testing.T) {
	if os.Getenv("SDKTEST_QUIET_CHILD") != "" {
		cfg := &sdk.ServeConfig{Name: "t", Version: "1.0.0", Types: []sdk.JobType{quietType{}},
			Protocols: []int{sdk.ProtocolV1, sdk.ProtocolV2},
			Runtime: sdk.RuntimeFunc(func(_ context.Context, _ *sdk.Job, out sdk.Emitter) sdk.Result {
				_ = out.Emit(sdk.NewOutput("hi", ""))
				return sdk.Success()
			})}
		for _, v := range []int{sdk.ProtocolV1, sdk.ProtocolV2} {
			sdktest.Protocol(t, v, cfg, &sdk.Job{Id: 1})
		}
		sdktest.Protocol(t, sdk.ProtocolV2, cfg, &sdk.Job{Id: 2, Type: "Quiet"})
		if _, err := sdktest.Resolve(t, cfg, &sdk.ResolveRequest{Type: "Quiet", DefinitionName: "d"}); err == nil {
			t.Error("Resolve of a type without definitions succeeded")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProtocolQuiet$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SDKTEST_QUIET_CHILD=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "PASS" || stderr.Len() > 0 {
		t.Errorf("the harness's test: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
}

type quietType struct{}

func (quietType) TypeName() string { return "Quiet" }
func (quietType) Run(context.Context, *sdk.Job, sdk.Emitter) sdk.Result {
	return sdk.Success()
}
