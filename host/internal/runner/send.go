package runner

import (
	"context"
	"errors"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// Send (bgjob send) writes data to the standard input of running job j
// and, with eof, closes it. The input pipe is the runtime's (the SDK's, in
// the plugin process), not the host's: the host forwards each send to the
// job's runtime connection, so a host that reattached to a running job
// after a restart sends into the same pipe.
//
// Only a running job takes input; a queued one is refused rather than its
// input stored, because the input exists only as the runtime's pipe, which
// a queued job does not have yet (input known before the start is --input).
// A job that is launching (Running, its runtime still starting or not yet
// holding the job) is waited for.
func (m *Manager) Send(ctx context.Context, j *jobs.Job, data []byte, eof bool) error {
	for {
		m.t.Lock()
		r := j.Row
		rt, handed, changed := j.RT, j.Handed, j.Changed
		m.t.Unlock()
		if err := sendable(&r); err != nil {
			return err
		}
		if r.State == api.Running && rt != nil && handed == rt {
			return m.sendTo(ctx, &r, rt.Conn(), data, eof)
		}
		// Running without its runtime yet (launching, or the runtime
		// has not taken the job yet), or being suspended: what it
		// becomes decides.
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sendable says why job r cannot take input, or nil if it can once its
// runtime is there. The order matters for the words: a job whose runtime
// has no input at all is told so before it is told to use --stdin-open,
// which would not help it.
func sendable(r *store.Row) error {
	switch {
	case r.Slurm != nil:
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) runs on Slurm: it takes no input while it runs", r.ID, r.Name)
	case r.State.Finished():
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) has finished (%s): there is no input to send to", r.ID, r.Name, r.State)
	case r.Runtime.Protocol == sdk.ProtocolV1:
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) runs on %s %s, which speaks protocol 1 (the 1.x runtime line), which has no input; use a 2.x runtime (start the job again with --runtime-version '~2' --stdin-open)", r.ID, r.Name, r.Runtime.Name, r.Runtime.Version)
	case !r.StdinOpen:
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) was not started with --stdin-open, so its input is closed; start it with --stdin-open to send it input", r.ID, r.Name)
	case r.State == api.NotStarted || r.State == api.Suspended && r.SuspendedFrom != api.Running:
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) has not started yet (%s): input goes to a running job only; send it once the job runs (input known before is --input)", r.ID, r.Name, r.State)
	case r.State == api.Suspended || r.State == api.Blocked:
		// Its runtime is stopped (SIGSTOP) and could not answer.
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) is %s: resume it first ('bgjob resume %d')", r.ID, r.Name, r.State, r.ID)
	case r.State == api.Stopping:
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) is being stopped: it takes no more input", r.ID, r.Name)
	}
	return nil
}

// sendTo forwards one send to the job's runtime; the runtime's own words
// say why it refused.
func (m *Manager) sendTo(ctx context.Context, r *store.Row, c protocol.Conn, data []byte, eof bool) error {
	ic, ok := c.(protocol.InputConn)
	if !ok {
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) runs on %s %s, whose protocol has no input", r.ID, r.Name, r.Runtime.Name, r.Runtime.Version)
	}
	err := ic.Input(ctx, r.ID, data, eof)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, protocol.ErrNoInput):
		return errkind.Errorf(errkind.ErrBadRequest, "job %d (%s) runs on %s %s, which does not take input while a job runs (it was built with an SDK older than bgjob send)", r.ID, r.Name, r.Runtime.Name, r.Runtime.Version)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return errkind.Errorf(errkind.ErrBadRequest, "cannot send input to job %d (%s): %v", r.ID, r.Name, err)
}
