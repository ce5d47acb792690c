package shell_test

import (
	"os"
	"os/user"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

func TestStreamBuiltins(t *testing.T) {
	tests := []struct {
		name   string
		script string
		stream sdk.Stream
		want   []*sdk.Record // Seq and time are not compared
	}{
		{
			name: "write-output", script: `write-output one "two words"`, stream: sdk.Output,
			want: []*sdk.Record{sdk.NewOutput("one", ""), sdk.NewOutput("two words", "")},
		},
		{
			name: "write-output --type", script: `write-output --type System.Int32 1 2`, stream: sdk.Output,
			want: []*sdk.Record{sdk.NewOutput("1", "System.Int32"), sdk.NewOutput("2", "System.Int32")},
		},
		{
			name: "write-output from stdin", script: `printf 'a\nb c\nd' | write-output`, stream: sdk.Output,
			want: []*sdk.Record{sdk.NewOutput("a", ""), sdk.NewOutput("b c", ""), sdk.NewOutput("d", "")},
		},
		{
			name: "write-output --type from stdin", script: `printf 'a\nb\n' | write-output --type T`, stream: sdk.Output,
			want: []*sdk.Record{sdk.NewOutput("a", "T"), sdk.NewOutput("b", "T")},
		},
		{
			name: "write-output --", script: `write-output -- -5`, stream: sdk.Output,
			want: []*sdk.Record{sdk.NewOutput("-5", "")},
		},
		{
			name: "write-output captured", script: `x=$(write-output --type T hi); write-output "got $x"; write-output a b | sort -r`, stream: sdk.Output,
			want: []*sdk.Record{sdk.NewOutput("got hi", ""), sdk.NewOutput("b", ""), sdk.NewOutput("a", "")},
		},
		{
			name:   "write-error",
			script: `write-error --category InvalidData --target /etc/x --error-id E42 --recommended-action 'fix it' it broke`,
			stream: sdk.Error,
			want: []*sdk.Record{sdk.NewError("it broke", &sdk.ErrorDetail{
				Category: "InvalidData", Target: "/etc/x", ErrorId: "E42", RecommendedAction: "fix it",
			})},
		},
		{
			name: "write-error defaults", script: `write-error plain`, stream: sdk.Error,
			want: []*sdk.Record{sdk.NewError("plain", &sdk.ErrorDetail{Category: "NotSpecified"})},
		},
		{
			name: "write-error redirected", script: `write-error gone 2>/dev/null; write-error --error-id X kept`, stream: sdk.Error,
			want: []*sdk.Record{sdk.NewError("kept", &sdk.ErrorDetail{Category: "NotSpecified", ErrorId: "X"})},
		},
		{
			name: "write-warning", script: `write-warning careful now; printf 'w1\nw2\n' | write-warning`, stream: sdk.Warning,
			want: []*sdk.Record{sdk.NewMessage(sdk.Warning, "careful now"), sdk.NewMessage(sdk.Warning, "w1"), sdk.NewMessage(sdk.Warning, "w2")},
		},
		{
			name: "write-verbose", script: `write-verbose details here`, stream: sdk.Verbose,
			want: []*sdk.Record{sdk.NewMessage(sdk.Verbose, "details here")},
		},
		{
			name: "write-debug", script: `write-debug x=1`, stream: sdk.Debug,
			want: []*sdk.Record{sdk.NewMessage(sdk.Debug, "x=1")},
		},
		{
			name: "write-progress", script: `write-progress --id 1 --percent 50 --status Copying Backup`, stream: sdk.Progress,
			want: []*sdk.Record{sdk.NewProgress(&sdk.ProgressDetail{
				ActivityId: 1, ParentId: -1, Activity: "Backup", Status: "Copying", Percent: 50, SecondsRemaining: -1,
			})},
		},
		{
			name:   "write-progress all fields",
			script: `write-progress --id 2 --parent-id 1 --activity 'Copy files' --status Done --current-operation a.txt --percent 100 --seconds-remaining 0 --completed`,
			stream: sdk.Progress,
			want: []*sdk.Record{sdk.NewProgress(&sdk.ProgressDetail{
				ActivityId: 2, ParentId: 1, Activity: "Copy files", Status: "Done", CurrentOperation: "a.txt",
				Percent: 100, SecondsRemaining: 0, Completed: true,
			})},
		},
		{
			name: "a function wins", script: `write-output() { echo "mine $*"; }; write-output --type T x`, stream: sdk.Output,
			want: []*sdk.Record{sdk.NewOutput("mine --type T x", "")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, res := run(t, shell.New(), &sdk.Job{Name: "Job7", Script: tt.script})
			if res != sdk.Success() {
				t.Fatalf("result %+v, errors %q", res, e.Stream(sdk.Error))
			}
			got := records(e, tt.stream)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records %v, want %v", len(got), got, tt.want)
			}
			for i, r := range got {
				if r.Seq == 0 {
					t.Errorf("record %d has no seq", i)
				}
				c := proto.Clone(r).(*sdk.Record)
				c.Seq, c.TimeUnixNano = 0, 0
				if !proto.Equal(c, tt.want[i]) {
					t.Errorf("record %d:\n got %v\nwant %v", i, c, tt.want[i])
				}
			}
		})
	}
}

func TestWriteInformation(t *testing.T) {
	before := time.Now()
	e, res := run(t, shell.New(), &sdk.Job{Name: "Job9", Script: `write-information --tags 'a, b,,c' --source mysrc hello world
write-information plain`})
	if res != sdk.Success() {
		t.Fatalf("result %+v, errors %q", res, e.Stream(sdk.Error))
	}
	got := records(e, sdk.Information)
	if len(got) != 2 {
		t.Fatalf("records %v", got)
	}
	host, _ := os.Hostname()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		msg, source string
		tags        []string
	}{{"hello world", "mysrc", []string{"a", "b", "c"}}, {"plain", "Job9", nil}} {
		r, d := got[i], got[i].Information
		if r.Message != want.msg || d == nil || d.Source != want.source || !slices.Equal(d.Tags, want.tags) {
			t.Errorf("record %d: %v", i, r)
			continue
		}
		if d.User != u.Username || d.Computer != host || d.Pid != int32(os.Getpid()) {
			t.Errorf("record %d: user %q computer %q pid %d", i, d.User, d.Computer, d.Pid)
		}
		if ts := time.Unix(0, d.TimeUnixNano); ts.Before(before) || ts.After(time.Now()) {
			t.Errorf("record %d: time %v", i, ts)
		}
	}
}

func TestBuiltinUsage(t *testing.T) {
	tests := []struct {
		script string
		errors string // in the Error records
		output string // in the Output records
	}{
		{script: `write-output --nope x; echo "rc=$?"`, errors: "flag provided but not defined: -nope", output: "rc=2"},
		{script: `write-progress --percent 101 x; echo "rc=$?"`, errors: "--percent must be from -1 to 100", output: "rc=2"},
		{script: `write-progress --id x; echo "rc=$?"`, errors: `invalid value "x" for flag -id`, output: "rc=2"},
		{script: `write-progress --activity a b; echo "rc=$?"`, errors: "the activity is given twice", output: "rc=2"},
		{script: `write-warning --help; echo "rc=$?"`, output: "usage: write-warning"},
		{script: `write-error --help; echo "rc=$?"`, output: "rc=0"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			e, res := run(t, shell.New(), &sdk.Job{Script: tt.script})
			if res != sdk.Success() {
				t.Fatalf("result %+v", res)
			}
			errs := strings.Join(e.Stream(sdk.Error), "\n")
			out := strings.Join(e.Stream(sdk.Output), "\n")
			if !strings.Contains(errs, tt.errors) {
				t.Errorf("errors %q, want %q in them", errs, tt.errors)
			}
			if tt.errors == "" && errs != "" {
				t.Errorf("errors %q, want none", errs)
			}
			if !strings.Contains(out, tt.output) {
				t.Errorf("output %q, want %q in it", out, tt.output)
			}
		})
	}
	// A bad flag as the last command fails the job like any command.
	_, res := run(t, shell.New(), &sdk.Job{Script: `write-debug --x`})
	if res != sdk.Failure(2, "exit status 2") {
		t.Errorf("result %+v", res)
	}
}
