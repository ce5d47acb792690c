package slurm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestSbatchArgs(t *testing.T) {
	tests := []struct {
		r     Request
		args  []string
		tasks int
	}{
		{Request{}, nil, 1},
		{Request{Partition: "debug", Time: "10"}, []string{"--partition=debug", "--time=10"}, 1},
		{Request{Nodes: 3}, []string{"--nodes=3"}, 3},
		{Request{NodeList: "a,b"}, []string{"--nodelist=a,b"}, 2},
		{Request{Nodes: 2, Tasks: 4, Args: []string{"--mem=1G"}}, []string{"--nodes=2", "--ntasks=4", "--mem=1G"}, 4},
	}
	for _, tt := range tests {
		if got := tt.r.sbatchArgs(); !slices.Equal(got, tt.args) {
			t.Errorf("%+v: sbatch %q, want %q", tt.r, got, tt.args)
		}
		if got := tt.r.TaskCount(); got != tt.tasks {
			t.Errorf("%+v: %d tasks, want %d", tt.r, got, tt.tasks)
		}
	}
}

// The strings are what Slurm 22.05 prints.
func TestParseScontrol(t *testing.T) {
	out := "JobId=19 JobName=bgjob-x UserId=root(0) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) ExitCode=0:15 NodeList=vm BatchHost=vm"
	got := parseScontrol("19", out)
	want := JobState{ID: "19", State: "TIMEOUT", Reason: "TimeLimit", ExitCode: "0:15"}
	if got != want {
		t.Errorf("parseScontrol = %+v, want %+v", got, want)
	}
	if got := parseScontrol("7", "JobId=7 JobState=PENDING Reason=None NodeList=(null)"); got.Reason != "" || got.State != "PENDING" {
		t.Errorf("None is no reason: %+v", got)
	}
	if got := parseScontrol("7", "JobId=7 JobState=COMPLETED Reason=None Requeue=1 Restarts=2 BatchFlag=1"); got.Restarts != 2 {
		t.Errorf("Restarts=2: %+v", got)
	}
}

// What squeue -O prints: a requeued job's reason with its spaces, or with
// the separator itself; the count of requeues is how a requeued job is
// told from one still in its first run, so a reason must never shift it.
func TestParseSqueue(t *testing.T) {
	tests := []struct {
		out  string
		want map[string]JobState
	}{
		{"7|PENDING|1|job requeued in held state|\n12|RUNNING|0|None|\n13|PENDING|2|BeginTime|\n", map[string]JobState{
			"7":  {ID: "7", State: "PENDING", Reason: "job requeued in held state", Restarts: 1},
			"12": {ID: "12", State: "RUNNING"},
			"13": {ID: "13", State: "PENDING", Reason: "BeginTime", Restarts: 2},
		}},
		{"7|PENDING|0|burst_buffer/lua: stage_in: a|2|0|\n", map[string]JobState{
			"7": {ID: "7", State: "PENDING", Reason: "burst_buffer/lua: stage_in: a|2|0"},
		}},
		{"7|PENDING|1||\n8|RUNNING|0|a||b||\n", map[string]JobState{
			"7": {ID: "7", State: "PENDING", Restarts: 1},
			"8": {ID: "8", State: "RUNNING", Reason: "a||b|"},
		}},
		{"", map[string]JobState{}},
		{"7|PENDING\n", map[string]JobState{}},
	}
	for _, tt := range tests {
		got := parseSqueue(tt.out)
		if len(got) != len(tt.want) {
			t.Errorf("parseSqueue(%q) = %+v, want %+v", tt.out, got, tt.want)
			continue
		}
		for id, w := range tt.want {
			if got[id] != w {
				t.Errorf("parseSqueue(%q): job %s: %+v, want %+v", tt.out, id, got[id], w)
			}
		}
	}
}

func TestErrorHints(t *testing.T) {
	tests := []struct{ slurm, want string }{
		{"sbatch: error: Batch job submission failed: Invalid partition name specified", "'bgjob location list' shows the partitions"},
		{"sbatch: error: Invalid user for SlurmUser munge: Munge decode failed", "start munged"},
		{"sinfo: error: Unable to contact slurm controller (connect failure)", "slurmctld, does not answer"},
		{"sbatch: error: something new", ""},
	}
	for _, tt := range tests {
		e := &Error{Doing: "cannot submit the job to Slurm", Slurm: tt.slurm + "\n", Status: errors.New("exit status 1")}
		msg := e.Error()
		if !strings.HasPrefix(msg, "cannot submit the job to Slurm: Slurm says: "+tt.slurm) || !strings.Contains(msg, tt.want) {
			t.Errorf("%q: %q", tt.slurm, msg)
		}
	}
}

// Slurm's commands missing is ErrNoSlurm, before anything runs.
func TestNoSlurm(t *testing.T) {
	c := &Client{Bin: t.TempDir()}
	_, err := c.Partitions(t.Context())
	if !errors.Is(err, ErrNoSlurm) || !strings.Contains(err.Error(), "sinfo is not in BGJOB_SLURM_BIN") {
		t.Errorf("no sinfo: %v", err)
	}
	t.Setenv("PATH", t.TempDir()) // no Slurm on it, whatever this machine has
	_, err = (&Client{}).Submit(t.Context(), &Request{}, "x", "/", "/dev/null", "/bin/true")
	if !errors.Is(err, ErrNoSlurm) || !strings.Contains(err.Error(), "sbatch is not on PATH") || !strings.Contains(err.Error(), "apt-get install slurm-client") {
		t.Errorf("no sbatch on PATH: %v", err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"/a b/c": "'/a b/c'", "it's": `'it'\''s'`, "": "''"} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// sbatch copies its environment into the job: the submitter's own Slurm
// job's variables stay out, what sbatch reads as its settings stays in.
func TestSubmitEnv(t *testing.T) {
	got := SubmitEnv([]string{"PATH=/bin", "SLURM_RESTART_COUNT=1", "SLURM_NTASKS=4", "SLURM_CONF=/etc/s.conf", "SBATCH_PARTITION=p", "SLURM_UMASK=0022", "SLURMD_NODENAME=n"})
	want := []string{"PATH=/bin", "SLURM_CONF=/etc/s.conf", "SBATCH_PARTITION=p", "SLURM_UMASK=0022", "SLURMD_NODENAME=n"}
	if !slices.Equal(got, want) {
		t.Errorf("SubmitEnv = %q, want %q", got, want)
	}
}

// fakeSqueue writes an squeue into a directory of its own that answers -o
// with job 7 pending and -O as onFormat (a shell snippet) does.
func fakeSqueue(t *testing.T, onFormat string) *Client {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\nfor a; do [ \"$a\" = -O ] && { " + onFormat + "; }; done\necho '7|PENDING|BeginTime'\n"
	if err := os.WriteFile(filepath.Join(dir, "squeue"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Client{Bin: dir}
}

// An squeue that refuses -O (an older Slurm) is asked with -o, and the log
// says so once; Slurm being down is an error, not a refused format.
func TestActiveFallback(t *testing.T) {
	for _, tt := range []struct{ name, onFormat string }{
		{"refused", `echo "squeue: invalid option -- 'O'" >&2; exit 1`},
		{"unknown field", `echo "squeue: error: Invalid job format specification: RestartCnt" >&2; echo '7|PENDING||'; exit 0`},
	} {
		c := fakeSqueue(t, tt.onFormat)
		var logged bytes.Buffer
		c.Log = hclog.New(&hclog.LoggerOptions{Output: &logged})
		for range 2 {
			got, err := c.Active(context.Background(), []string{"7"})
			if err != nil || got["7"] != (JobState{ID: "7", State: "PENDING", Reason: "BeginTime"}) {
				t.Errorf("%s: Active = %+v, %v; want job 7 PENDING (BeginTime) from -o", tt.name, got, err)
			}
		}
		if n := strings.Count(logged.String(), "squeue refused the -O format"); n != 1 {
			t.Errorf("%s: the log says %d times that squeue refused -O, want once:\n%s", tt.name, n, logged.String())
		}
	}
	c := fakeSqueue(t, `echo "squeue: error: Unable to contact slurm controller (connect failure)" >&2; exit 1`)
	if got, err := c.Active(context.Background(), []string{"7"}); err == nil || !strings.Contains(err.Error(), "slurmctld") || c.plainSqueue.Load() {
		t.Errorf("with the controller down: Active = %+v, %v; want its error, and -O kept", got, err)
	}
}
