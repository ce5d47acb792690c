package sdktest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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

// inputRuntime runs jobs with run (lineEcho if nil) as a runtime that
// takes input, or refuses it with refusal.
type inputRuntime struct {
	refusal error
	run     sdk.RuntimeFunc
}

func (r inputRuntime) Run(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	if r.run != nil {
		return r.run(ctx, job, out)
	}
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

// firstLine emits the first line of the job's input and ends without
// reading the rest.
func firstLine(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	f, _ := sdk.Stdin(ctx)
	var line []byte
	b := make([]byte, 1)
	for {
		if n, err := f.Read(b); n == 0 || err != nil || b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	_ = out.Emit(sdk.NewOutput("got "+string(line), ""))
	return sdk.Success()
}

// A send waiting on a full pipe is not left waiting when the job ends
// without reading it: it fails, and the job's end is not held up.
func TestProtocolSendUnread(t *testing.T) {
	cfg := &sdk.ServeConfig{Name: "t", Version: "1.0.0", Runtime: inputRuntime{run: firstLine}}
	big := []byte(strings.Repeat("x", 4<<20) + "\n")
	got, errs := sdktest.ProtocolSend(t, cfg, &sdk.Job{Id: 1, StdinOpen: true},
		sdktest.Send{Data: []byte("a\n")}, sdktest.Send{Data: big})
	if out := fmt.Sprint(got.Stream(sdk.Output)); out != "[got a]" {
		t.Errorf("output %s", out)
	}
	if errs[0] != nil {
		t.Errorf("first send: %v", errs[0])
	}
	// Refused in words that depend on when the send came: before the
	// job ended (blocked, then ended), or after.
	want := []string{"the job ended before it read this input", "the job no longer reads its input (nothing holds its standard input open)", "the job has ended"}
	if errs[1] == nil || !slices.Contains(want, errs[1].Error()) {
		t.Errorf("send into a pipe the job no longer reads: %v, want one of %q", errs[1], want)
	}
}
