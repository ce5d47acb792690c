package runner

import (
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// Which jobs take input (bgjob send), and what a refusal says: the reason
// that would help, first (a 1.x job is not told to use --stdin-open, which
// it cannot have).
func TestSendable(t *testing.T) {
	v2 := api.Runtime{Name: "shell", Version: "2.0.0", Protocol: 2}
	v1 := api.Runtime{Name: "shell", Version: "1.5.0", Protocol: 1}
	row := func(state api.State, rt api.Runtime, open bool) *store.Row {
		return &store.Row{Job: api.Job{ID: 7, Name: "J", State: state, Runtime: rt, StdinOpen: open}}
	}
	suspendedQueued := row(api.Suspended, v2, true)
	suspendedQueued.SuspendedFrom = api.NotStarted
	suspendedRunning := row(api.Suspended, v2, true)
	suspendedRunning.SuspendedFrom = api.Running
	onSlurm := row(api.Running, v2, true)
	onSlurm.Slurm = &store.SlurmJob{}
	tests := []struct {
		name string
		r    *store.Row
		want string // in the refusal; "" takes input
	}{
		{"running", row(api.Running, v2, true), ""},
		{"finished", row(api.Completed, v2, true), "job 7 (J) has finished (Completed)"},
		{"finished, not open", row(api.Failed, v2, false), "has finished (Failed)"},
		{"protocol 1", row(api.Running, v1, false), "runs on shell 1.5.0, which speaks protocol 1 (the 1.x runtime line), which has no input; use a 2.x runtime"},
		{"not open", row(api.Running, v2, false), "was not started with --stdin-open"},
		{"queued", row(api.NotStarted, v2, true), "has not started yet (NotStarted)"},
		{"suspended in the queue", suspendedQueued, "has not started yet (Suspended)"},
		{"suspended", suspendedRunning, "is Suspended: resume it first"},
		{"stopping", row(api.Stopping, v2, true), "is being stopped"},
		{"on slurm", onSlurm, "runs on Slurm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sendable(tt.r)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want a refusal saying %q", err, tt.want)
			}
		})
	}
}
