package sdktest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

// lineEcho emits each line of the job's input as an output record, and
// "eof" when the input ends: from the SDK's pipe when the job has one
// (sdk.Stdin), else from Job.Input.
func lineEcho(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	var in io.Reader = strings.NewReader(string(job.Input))
	if f, ok := sdk.Stdin(ctx); ok {
		in = f
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		_ = out.Emit(sdk.NewOutput("got "+sc.Text(), ""))
	}
	_ = out.Emit(sdk.NewOutput("eof", ""))
	return sdk.Success()
}

// inputRuntime is lineEcho as a runtime that takes input, or refuses it
// with refusal.
type inputRuntime struct{ refusal error }

func (r inputRuntime) Run(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	return lineEcho(ctx, job, out)
}

func (r inputRuntime) TakesInput(*sdk.Job) error { return r.refusal }

// Input sent over protocol 2 (bgjob send) reaches the job's standard
// input in order, after --input, and ends it with EOF; what cannot take
// input says why, in words for the user.
func TestProtocolSend(t *testing.T) {
	takes := inputRuntime{}
	tests := []struct {
		name     string
		rt       sdk.Runtime
		job      *sdk.Job
		sends    []sdktest.Send
		out      string   // the job's output records
		errs     []string // each send's error, "" for none
		warnings string
	}{
		{
			name: "lines then eof", rt: takes, job: &sdk.Job{Id: 1, StdinOpen: true},
			sends: []sdktest.Send{{Data: []byte("a\n")}, {Data: []byte("b")}, {Data: []byte("c\n")}, {EOF: true}},
			out:   "[got a got bc eof]", errs: []string{"", "", "", ""},
		},
		{
			name: "input first", rt: takes, job: &sdk.Job{Id: 2, StdinOpen: true, Input: []byte("first\n")},
			sends: []sdktest.Send{{Data: []byte("second\n"), EOF: true}},
			out:   "[got first got second eof]", errs: []string{""},
		},
		{
			name: "nothing after eof", rt: takes, job: &sdk.Job{Id: 3, StdinOpen: true},
			sends: []sdktest.Send{{Data: []byte("x\n"), EOF: true}, {Data: []byte("late\n")}, {EOF: true}},
			out:   "[got x eof]", errs: []string{"", "the job's input is closed already (it was sent --eof)", "the job's input is closed already (it was sent --eof)"},
		},
		{
			name: "not stdin-open", rt: takes, job: &sdk.Job{Id: 4, Input: []byte("given\n")},
			sends: []sdktest.Send{{Data: []byte("x\n")}},
			out:   "[got given eof]", errs: []string{"the job was not started with --stdin-open: its input ended after what --input gave it"},
		},
		{
			name: "runtime without input", rt: sdk.RuntimeFunc(lineEcho), job: &sdk.Job{Id: 5, StdinOpen: true, Input: []byte("given\n")},
			sends:    []sdktest.Send{{Data: []byte("x\n")}},
			out:      "[got given eof]",
			errs:     []string{"the runtime t 1.0.0 does not take input while a job runs (it implements no sdk.InputTaker)"},
			warnings: "[--stdin-open: the runtime t 1.0.0 does not take input while a job runs (it implements no sdk.InputTaker); the job's input ends after --input]",
		},
		{
			name: "runtime refuses", rt: inputRuntime{refusal: errors.New("this kind of job reads no input")}, job: &sdk.Job{Id: 6, StdinOpen: true},
			sends:    []sdktest.Send{{Data: []byte("x\n")}},
			out:      "[eof]",
			errs:     []string{"this kind of job reads no input"},
			warnings: "[--stdin-open: this kind of job reads no input; the job's input ends after --input]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &sdk.ServeConfig{Name: "t", Version: "1.0.0", Runtime: tt.rt}
			got, errs := sdktest.ProtocolSend(t, cfg, tt.job, tt.sends...)
			if out := fmt.Sprint(got.Stream(sdk.Output)); out != tt.out {
				t.Errorf("output %s, want %s", out, tt.out)
			}
			if w := got.Stream(sdk.Warning); tt.warnings != "" && fmt.Sprint(w) != tt.warnings || tt.warnings == "" && len(w) > 0 {
				t.Errorf("warnings %q, want %s", w, tt.warnings)
			}
			for i, err := range errs {
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				if msg != tt.errs[i] {
					t.Errorf("send %d: error %q, want %q", i+1, msg, tt.errs[i])
				}
			}
			if got.Result.State != sdk.Completed {
				t.Errorf("result %+v", got.Result)
			}
		})
	}
}
