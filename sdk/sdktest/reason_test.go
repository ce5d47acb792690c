package sdktest_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

// A failure's reason may hold bytes that are not UTF-8 (a path in an error)
// or be very long: the job still ends Failed with its exit code and the
// reason, made valid and cut short, rather than with the broken stream of
// a runtime that "crashed or was killed".
func TestFailureReasonNotUTF8OrHuge(t *testing.T) {
	for _, tc := range []struct{ name, reason, want string }{
		{"not UTF-8", "cannot open caf\xe9.txt", "cannot open caf\uFFFD.txt"},
		{"huge", strings.Repeat("r", 10<<20), "more bytes cut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []int{sdk.ProtocolV1, sdk.ProtocolV2} {
				cfg := &sdk.ServeConfig{Name: "r", Version: "1.0.0", Protocols: []int{v},
					Runtime: sdk.RuntimeFunc(func(context.Context, *sdk.Job, sdk.Emitter) sdk.Result {
						return sdk.Failure(3, tc.reason)
					})}
				got := sdktest.Protocol(t, v, cfg, &sdk.Job{Id: 1})
				if got.Result.State != sdk.Failed || got.Result.ExitCode != 3 || !strings.Contains(got.Result.Reason, tc.want) ||
					!utf8.ValidString(got.Result.Reason) || len(got.Result.Reason) > 128<<10 {
					t.Errorf("protocol %d: result %v, exit %d, reason of %d bytes %.80q; want Failed, 3, with %q",
						v, got.Result.State, got.Result.ExitCode, len(got.Result.Reason), got.Result.Reason, tc.want)
				}
			}
		})
	}
}
