package main

import (
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

// TestStillRunning: a receive --wait cut short names the jobs that go on
// and the command that goes on receiving them (it once read as if the
// receive itself went on).
func TestStillRunning(t *testing.T) {
	tests := []struct {
		jobs []api.Job
		want string
	}{
		{nil, "stopped receiving"},
		{[]api.Job{{ID: 35, Name: "Bg"}}, "stopped receiving; job 35 (Bg) is still running; to go on receiving, run: bgjob receive --wait 35"},
		{[]api.Job{{ID: 3, Name: "A"}, {ID: 4, Name: "B"}}, "stopped receiving; jobs 3 (A), 4 (B) are still running; to go on receiving, run: bgjob receive --wait 3 4"},
	}
	for _, tt := range tests {
		if got := stillRunning(tt.jobs); got != tt.want {
			t.Errorf("stillRunning(%v) = %q, want %q", tt.jobs, got, tt.want)
		}
	}
}
