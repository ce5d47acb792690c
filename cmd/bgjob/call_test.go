package main

import (
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

// TestRepeatable: after the host vanished in the middle of a call, the CLI
// sends it once more only if doing it twice is doing it once: a start or
// restart named by its id, and a wait for jobs named or of a group (a wait
// changes nothing; the jobs outlive the host). A wait for the jobs in a
// state is not: sent again, it would choose other jobs.
func TestRepeatable(t *testing.T) {
	for _, tt := range []struct {
		name string
		req  api.Request
		want bool
	}{
		{"start with an instance id", api.Request{Op: api.OpStart, Start: &api.StartRequest{InstanceID: "x"}}, true},
		{"start without", api.Request{Op: api.OpStart, Start: &api.StartRequest{}}, false},
		{"wait for jobs named", api.Request{Op: api.OpWait, Jobs: []string{"A", "B"}}, true},
		{"wait for a group", api.Request{Op: api.OpWait, Filter: &api.Filter{Group: "gpu"}}, true},
		{"wait --state Running", api.Request{Op: api.OpWait, Filter: &api.Filter{State: "Running"}}, false},
		{"stop", api.Request{Op: api.OpStop, Jobs: []string{"A"}}, false},
		{"receive", api.Request{Op: api.OpReceive, Jobs: []string{"A"}}, false},
	} {
		if got := repeatable(&tt.req); got != tt.want {
			t.Errorf("%s: repeatable %v, want %v", tt.name, got, tt.want)
		}
	}
}
