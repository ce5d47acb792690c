package protocol

import (
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
)

// An end names its state; one that names none, or a number the protocol
// does not know (a broken plugin's), is a failure saying so, never a
// success with exit code 0.
func TestEnded(t *testing.T) {
	for _, tc := range []struct {
		d      *sdk.Done
		state  api.State
		reason string
	}{
		{&sdk.Done{State: sdk.Completed}, api.Completed, ""},
		{&sdk.Done{State: sdk.Failed, ExitCode: 3, Reason: "exit status 3"}, api.Failed, "exit status 3"},
		{&sdk.Done{State: sdk.Stopped, Reason: "stopped"}, api.Stopped, "stopped"},
		{&sdk.Done{}, api.Failed, "a state the protocol does not name (0)"},
		{&sdk.Done{State: pb.State(42), Reason: "odd"}, api.Failed, "does not name (42): odd"},
	} {
		state, _, reason := Ended(tc.d)
		if state != tc.state || !strings.Contains(reason, tc.reason) || (tc.reason == "" && reason != "") {
			t.Errorf("Ended(%v) = %s, %q; want %s, %q", tc.d, state, reason, tc.state, tc.reason)
		}
	}
}
