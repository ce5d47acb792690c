package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk/process"
)

// Signal (stop --signal) sends the signal named name to the processes of
// each of the running jobs js, and returns their ids. The plugin protocol
// carries no signal, so the host sends it itself, as suspend does: to every
// process in the session the job's runtime leads, but not to the runtime,
// which runs the job and keeps its records (a TERM to it would lose the job
// rather than end it). A job goes on unless the signal ends what it runs:
// a script that its runtime interprets (the shell runtime's loops and
// builtins) sees only its commands' processes end. Nothing is sent unless
// every job the caller named (named) can take it: a queued or finished job
// has no processes, a thread job shares its process with others, and a job
// on Slurm is Slurm's. Such jobs a wildcard or --state picked are passed
// over, and the caller told of those that run.
func (m *Manager) Signal(ctx context.Context, js []*jobs.Job, name string, named map[*jobs.Job]bool) ([]string, error) {
	sig, err := parseSignal(name)
	if err != nil {
		return nil, err
	}
	var ids []string
	var pids []int
	var passed []string
	m.t.Lock()
	for _, j := range js {
		r := &j.Row
		why := ""
		switch {
		case !named[j] && r.State != api.Running:
			continue // a wildcard's finished or queued job: nothing to say
		case r.Elsewhere() != "":
			why = fmt.Sprintf("job %d (%s) is on %s: stop --signal reaches this machine's jobs only", r.ID, r.Name, r.Elsewhere())
		case r.State != api.Running || j.RT == nil:
			why = fmt.Sprintf("job %d (%s) is %s: only a running job's processes take a signal", r.ID, r.Name, r.State)
		case r.ThrottleLimit > 0:
			why = fmt.Sprintf("job %d (%s) is a thread job: it shares its process with other jobs, so it cannot take a signal alone; start it %s", r.ID, r.Name, asProcess(r))
		default:
			ids, pids = append(ids, strconv.FormatUint(r.ID, 10)), append(pids, j.RT.Pid())
			continue
		}
		if named[j] {
			m.t.Unlock()
			return nil, errkind.Errorf(errkind.ErrBadRequest, "%s", why)
		}
		passed = append(passed, "no signal sent: "+why)
	}
	m.t.Unlock()
	if len(ids) == 0 && len(passed) == 0 && len(js) > 0 {
		// A wildcard or --state that picked no running job: said, as
		// suspend says it of finished ones.
		return nil, errkind.Errorf(errkind.ErrBadRequest, "%s: none is running; only a running job's processes take a signal", jobList(js))
	}
	admit.Tell(ctx, m.log, passed)
	for i, pid := range pids {
		n, err := process.SignalSession(pid, sig)
		if errors.Is(err, errors.ErrUnsupported) {
			return nil, errkind.Errorf(errkind.ErrBadRequest, "this system does not let bgjob find a job's processes (it reads /proc): stop --signal cannot work here")
		}
		if err != nil {
			return nil, fmt.Errorf("cannot signal job %s: %w", ids[i], err)
		}
		m.log.Info("signalled a job's processes", "job", ids[i], "signal", name, "processes", n)
	}
	return ids, nil
}

// asProcess says how to start r as a job of its own process: a batch's
// children are thread jobs unless the batch says --processes.
func asProcess(r *store.Row) string {
	if jobs.IsBatchChild(r) {
		return "in a batch with --processes"
	}
	return "without --thread"
}
