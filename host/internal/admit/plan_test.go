package admit

import (
	"errors"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/sdk"
)

// A batch's children are thread jobs when the runtime can share a process
// (ForEach-Object -Parallel's runspaces), processes with --processes or
// when it cannot; only an explicit --thread is refused a runtime that
// cannot, and --processes goes only with --foreach, never with --thread.
func TestBatchChildren(t *testing.T) {
	root := fakert.Catalog(t,
		fakert.Entry{Name: "shell", Version: "2.0.0", Reusable: true},
		fakert.Entry{Name: "shell", Version: "1.0.0", Protocols: []int{sdk.ProtocolV1}, Reusable: true},
		fakert.Entry{Name: "once", Version: "2.0.0"}, // protocol 2, not reusable
	)
	a := New(Config{Catalog: catalog.Open(root)})
	items := []string{"a", "b"}
	for _, tt := range []struct {
		name string
		req  api.StartRequest
		want string // the children's type; "" when refused
		err  string // what the refusal says
	}{
		{"default", api.StartRequest{ForEach: items}, ThreadJob, ""},
		{"--thread", api.StartRequest{ForEach: items, Thread: true}, ThreadJob, ""},
		{"--processes", api.StartRequest{ForEach: items, Processes: true}, sdk.BackgroundJob, ""},
		{"protocol 1", api.StartRequest{ForEach: items, RuntimeVersion: "~1"}, sdk.BackgroundJob, ""},
		{"not reusable", api.StartRequest{ForEach: items, Runtime: "once"}, sdk.BackgroundJob, ""},
		{"protocol 1, --thread", api.StartRequest{ForEach: items, RuntimeVersion: "~1", Thread: true}, "", "cannot run thread jobs"},
		{"not reusable, --thread", api.StartRequest{ForEach: items, Runtime: "once", Thread: true}, "", "cannot run thread jobs"},
		{"--thread --processes", api.StartRequest{ForEach: items, Thread: true, Processes: true}, "", "--thread and --processes"},
		{"--processes alone", api.StartRequest{Processes: true}, "", "goes with --foreach"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Script, req.Workdir = `echo "$1"`, t.TempDir()
			err := CheckRequest(&req)
			var p *Plan
			if err == nil {
				p, err = a.PlanScript(&req, nil)
			}
			if tt.want == "" {
				var e *errkind.Error
				if !errors.As(err, &e) || e.Kind != errkind.ErrBadRequest || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want a bad request saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.want || p.Batch != DefaultThrottleLimit {
				t.Errorf("children %s, batch limit %d; want %s, %d", p.Type, p.Batch, tt.want, DefaultThrottleLimit)
			}
			// A thread child shares its process up to its batch's limit.
			throttle := 0
			if p.Type == ThreadJob {
				throttle = p.Batch
			}
			if p.Throttle != throttle {
				t.Errorf("%s children with thread limit %d, want %d", p.Type, p.Throttle, throttle)
			}
		})
	}
}
