package host

import (
	"context"

	"github.com/bgjob/bgjob/host/internal/records"
)

// ReceiveOptions are Receive-Job's switches (see records.Options).
type ReceiveOptions = records.Options

// Sink takes received records. The record is only valid during the call.
// Flush is called before Receive blocks waiting for more, so what the sink
// buffers reaches the user while the job runs.
type Sink = records.Sink

// Ender is a Sink that is told when a finished job's records have all been
// passed on, with the job's final row: where a receive says a job failed.
type Ender = records.Ender

// Receive passes the selected jobs' unreceived records to sink: job by
// job, or, with Wait and several jobs, as they arrive from each (the sink
// gets one call at a time either way).
func (h *Host) Receive(ctx context.Context, sel []string, o ReceiveOptions, sink Sink) error {
	return records.Receive(ctx, h.t, h.caller(ctx), sel, o, sink)
}
