package sdk_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

// What the SDK does to every job, whatever runs it, over either protocol:
// the tests below serve a runtime and a custom type through the SDK's own
// server (sdktest.Protocol), as a host reaches them.

// echoType is a custom type whose Run is the given function.
type echoType struct {
	name string
	run  sdk.RuntimeFunc
}

func (e echoType) TypeName() string { return e.name }
func (e echoType) Run(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	return e.run(ctx, job, out)
}

// serve is a plugin that runs fn as its runtime (both protocols) and as
// the custom type Echo.
func serve(fn sdk.RuntimeFunc) *sdk.ServeConfig {
	return &sdk.ServeConfig{Name: "jobtest", Version: "3.1.4", Runtime: fn,
		Types: []sdk.JobType{echoType{"Echo", fn}}, Protocols: []int{sdk.ProtocolV1, sdk.ProtocolV2}}
}

// ways are the ways a job reaches a plugin's Run.
var ways = []struct {
	name    string
	version int
	typ     string
}{
	{"protocol 1", sdk.ProtocolV1, ""},
	{"protocol 2", sdk.ProtocolV2, ""},
	{"custom type", sdk.ProtocolV2, "Echo"},
}

// Every runtime's jobs get the BGJOB_* variables from the SDK, once each
// and last, replacing any the host's environment had.
func TestJobEnvironment(t *testing.T) {
	cfg := serve(func(_ context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
		for _, kv := range job.Env {
			_ = out.Emit(sdk.NewOutput(kv, ""))
		}
		return sdk.Success()
	})
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			job := &sdk.Job{Id: 7, Name: "Nightly", Type: w.typ, Env: []string{"FOO=bar", "BGJOB_RUNTIME_VERSION=0.0.1", "BGJOB_JOB_ID=1", "BGJOB_JOB_IDS=1,2"}}
			got := sdktest.Protocol(t, w.version, cfg, job).Stream(sdk.Output)
			want := []string{"FOO=bar", "BGJOB_JOB_IDS=1,2", "BGJOB_JOB_ID=7", "BGJOB_JOB_NAME=Nightly",
				"BGJOB_RUNTIME_VERSION=3.1.4", "BGJOB_RUNTIME_ARCH=" + runtime.GOARCH}
			if !slices.Equal(got, want) {
				t.Errorf("the job's environment\n %q\nwant\n %q", got, want)
			}
		})
	}
}

// A job that was asked to stop ends Stopped, whatever Run returns once its
// context is cancelled; one that was not keeps its result.
func TestStopRule(t *testing.T) {
	for _, tc := range []struct {
		name       string
		res        sdk.Result
		wantReason string
	}{
		{"an error", sdk.Failure(1, "context canceled"), "stopped"},
		{"success", sdk.Success(), "stopped"},
		{"no state", sdk.Result{}, "stopped"},
		{"stopped without a reason", sdk.Result{State: sdk.Stopped}, "stopped"},
		{"stopped with a reason", sdk.StoppedResult("stopped; run it again to resume"), "stopped; run it again to resume"},
	} {
		cfg := serve(func(ctx context.Context, _ *sdk.Job, out sdk.Emitter) sdk.Result {
			_ = out.Emit(sdk.NewOutput("waiting for a stop", ""))
			<-ctx.Done()
			if g, ok := sdk.StopGrace(ctx); !ok || g.Seconds() != 3 {
				return sdk.Failure(9, fmt.Sprintf("not a stop request with its grace: %v, %v", g, ok))
			}
			return tc.res
		})
		for _, w := range ways {
			t.Run(tc.name+"/"+w.name, func(t *testing.T) {
				got := sdktest.ProtocolStop(t, w.version, cfg, &sdk.Job{Id: 3, Type: w.typ}, 3e9)
				if got.Result.State != sdk.Stopped || got.Result.Reason != tc.wantReason {
					t.Errorf("result %+v, want Stopped, %q", got.Result, tc.wantReason)
				}
			})
		}
	}
	// Not stopped: a failure is a failure.
	cfg := serve(func(context.Context, *sdk.Job, sdk.Emitter) sdk.Result { return sdk.Failure(4, "broken") })
	for _, w := range ways {
		if got := sdktest.Protocol(t, w.version, cfg, &sdk.Job{Id: 4, Type: w.typ}); got.Result != sdk.Failure(4, "broken") {
			t.Errorf("%s: a job nobody stopped: %+v", w.name, got.Result)
		}
	}
}

// --merge-error: what a job writes to the error stream as text comes out
// as output, in order with its output, as 2>&1 makes it; errors it emits
// on purpose stay errors.
func TestMergeError(t *testing.T) {
	cfg := serve(func(_ context.Context, _ *sdk.Job, out sdk.Emitter) sdk.Result {
		fmt.Fprint(out.Writer(sdk.Output), "out\n")
		fmt.Fprint(out.Writer(sdk.Error), "err\n")
		fmt.Fprint(out.Writer(sdk.Output), "out again\n")
		_ = out.Emit(sdk.NewError("on purpose", &sdk.ErrorDetail{Category: "InvalidArgument"}))
		return sdk.Success()
	})
	for _, w := range ways {
		for _, merge := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/merge=%v", w.name, merge), func(t *testing.T) {
				got := sdktest.Protocol(t, w.version, cfg, &sdk.Job{Id: 5, Type: w.typ, MergeError: merge})
				output, errs := strings.Join(got.Stream(sdk.Output), "|"), strings.Join(got.Stream(sdk.Error), "|")
				wantOut, wantErr := "out|out again", "err|on purpose"
				if merge {
					wantOut, wantErr = "out|err|out again", "on purpose"
				}
				if output != wantOut || errs != wantErr {
					t.Errorf("output %q, errors %q; want %q, %q", output, errs, wantOut, wantErr)
				}
			})
		}
	}
}
