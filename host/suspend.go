package host

import (
	"context"
	"fmt"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
)

// Suspend and resume (Suspend-Job, Resume-Job). A running job's runtime
// leads a session of its own that holds every process the job started,
// whatever process groups they made; suspending the job stops (SIGSTOP)
// that whole session, the runtime first, so its clock stops with its job,
// and resuming continues it. This works the same for every runtime line and
// job type without the runtime's help, and nothing in the job can catch or
// ignore it. A queued job that is suspended is skipped by the queue until
// it is resumed.
//
// A thread job shares its process with other jobs, so it cannot be stopped
// alone this way: suspending a running thread job is refused (a queued one
// can be). A suspended job keeps its place in its group's limit: its
// processes and their memory are still there.
//
// The state is in the row (Suspended, and SuspendedFrom). A host killed
// while a job is suspended leaves its processes stopped; the next host
// does not reattach to it (a stopped runtime cannot answer) until it is
// resumed.

// Suspend suspends the selected jobs that have not finished, and returns
// them. Jobs suspended already stay so.
func (h *Host) Suspend(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	if err != nil {
		h.t.Unlock()
		return nil, err
	}
	var live []*jobs.Job
	var refused []string
	for _, j := range js {
		switch {
		case j.Row.State.Finished():
		case j.Row.Slurm != nil:
			refused = append(refused, fmt.Sprintf("job %d (%s) runs on Slurm, which suspends jobs by an operator's command (scontrol suspend); bgjob shows it Suspended then", j.Row.ID, j.Row.Name))
		case j.Row.ThrottleLimit > 0 && j.Row.State != api.NotStarted && j.Row.State != api.Suspended:
			refused = append(refused, fmt.Sprintf("job %d (%s) is a running thread job: it shares its runtime process with other jobs, so it cannot be suspended alone; stop it, or start it without --thread", j.Row.ID, j.Row.Name))
		default:
			live = append(live, j)
		}
	}
	h.t.Unlock()
	if len(refused) > 0 {
		return nil, errorf(ErrBadRequest, "%s", strings.Join(refused, "; "))
	}
	if len(live) == 0 && len(js) > 0 {
		return nil, errorf(ErrBadRequest, "%s finished; only running or queued jobs can be suspended", jobList(js))
	}
	var ids []string
	for _, j := range live {
		if err := h.run.Suspend(ctx, j); err != nil {
			return nil, err
		}
		ids = append(ids, fmt.Sprint(j.Row.ID))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return h.Jobs(ctx, ids, nil)
}

// jobList names jobs in a message: "job 3 (A) has", "jobs 3 (A), 4 (B) have".
func jobList(js []*jobs.Job) string {
	var names []string
	for _, j := range js {
		names = append(names, fmt.Sprintf("%d (%s)", j.Row.ID, j.Row.Name))
	}
	if len(names) == 1 {
		return "job " + names[0] + " has"
	}
	return "jobs " + strings.Join(names, ", ") + " have"
}

// Resume resumes the selected suspended jobs and returns them; the others
// are left as they are.
func (h *Host) Resume(ctx context.Context, sel []string, opts ...SelectOption) ([]*api.Job, error) {
	h.t.Lock()
	js, err := h.t.SelectFiltered(h.caller(ctx), sel, opts)
	h.t.Unlock()
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if j.Row.Slurm != nil && j.Row.State == api.Suspended {
			return nil, errorf(ErrBadRequest, "job %d (%s) was suspended in Slurm; it is resumed there (scontrol resume, an operator's command)", j.Row.ID, j.Row.Name)
		}
	}
	var ids []string
	for _, j := range js {
		ok, err := h.run.Resume(j)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, fmt.Sprint(j.Row.ID))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return h.Jobs(ctx, ids, nil)
}
