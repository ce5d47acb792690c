package server

import (
	"context"
	"fmt"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
)

// handle runs one request, writing what the user sees to rep.
func (s *server) handle(ctx context.Context, req *api.Request, rep *reply) error {
	h := s.h
	out := rep.writer(api.FrameStdout)
	jsonOut := req.Output == api.FormatJSON
	printJobs := func(jobs []*api.Job, single bool) error {
		if jsonOut {
			return writeJobsJSON(out, jobs, single)
		}
		if len(jobs) == 0 {
			return nil
		}
		caller, _ := host.CallerFrom(ctx)
		return writeJobTable(out, jobs, columns{owner: s.system && caller.Root(),
			started: req.Filter != nil && req.Filter.Type != ""})
	}
	switch req.Op {
	case api.OpPing:
		return nil
	case api.OpStart:
		if req.Start == nil {
			return badRequest("start without a job")
		}
		j, err := h.Start(ctx, req.Start)
		if err != nil {
			return err
		}
		if !req.Wait {
			return printJobs([]*api.Job{j}, true)
		}
		return startWait(ctx, h, j, req, rep)
	case api.OpGet:
		// What went wrong at the host's start and was repaired is told
		// with every listing: never silently.
		for _, n := range h.Notices() {
			fmt.Fprintf(rep.writer(api.FrameStderr), "bgjob: %s\n", n)
		}
		jobs, err := h.Jobs(ctx, req.Jobs, req.Filter)
		if err != nil {
			return err
		}
		return printJobs(jobs, false)
	case api.OpReceive:
		if len(req.Jobs) == 0 {
			return badRequest("name the jobs to receive from")
		}
		return h.Receive(ctx, req.Jobs, host.ReceiveOptions{Keep: req.Keep, Wait: req.Wait, AutoRemove: req.AutoRemove}, newSink(req, rep))
	case api.OpWait:
		if len(req.Jobs) == 0 {
			return badRequest("name the jobs to wait for")
		}
		jobs, err := h.Wait(ctx, req.Jobs, req.Any, time.Duration(req.Timeout*float64(time.Second)))
		if perr := printJobs(jobs, false); err == nil {
			err = perr
		}
		return err
	case api.OpStop:
		if len(req.Jobs) == 0 {
			return badRequest("name the jobs to stop")
		}
		jobs, err := h.Stop(ctx, req.Jobs)
		if err != nil || !req.PassThru {
			return err
		}
		return printJobs(jobs, false)
	case api.OpRemove:
		if len(req.Jobs) == 0 {
			return badRequest("name the jobs to remove")
		}
		return h.Remove(ctx, req.Jobs, req.Force)
	case api.OpDefinition:
		if req.Definition == nil {
			return badRequest("definition without an action")
		}
		defs, err := h.Definitions(ctx, req.Definition)
		if err != nil {
			return err
		}
		return writeDefinitions(out, rep.writer(api.FrameStderr), defs, req.Definition.Action, jsonOut)
	}
	return badRequest("unknown operation %q", req.Op)
}

// startWait is `start --wait`: the job's records as they come, then its
// removal; the exit code says whether it completed.
func startWait(ctx context.Context, h *host.Host, j *api.Job, req *api.Request, rep *reply) error {
	sel := []string{fmt.Sprint(j.ID)}
	if err := h.Receive(ctx, sel, host.ReceiveOptions{Wait: true}, newSink(req, rep)); err != nil {
		return err
	}
	jobs, err := h.Jobs(ctx, sel, nil)
	if err != nil || len(jobs) != 1 {
		return err
	}
	fin := jobs[0]
	if err := h.Remove(ctx, sel, false); err != nil {
		return err
	}
	if fin.State != api.Completed {
		return &exitError{code: api.ExitJobFailed, err: fmt.Errorf("job %d (%s) %s: %s", fin.ID, fin.Name, fin.State, fin.StateReason)}
	}
	return nil
}

func newSink(req *api.Request, rep *reply) host.Sink {
	if req.Output == api.FormatJSON {
		return &jsonSink{out: rep.writer(api.FrameStdout), flush: rep.flush}
	}
	return &textSink{out: rep.writer(api.FrameStdout), err: rep.writer(api.FrameStderr),
		verbose: req.Verbose, debug: req.Debug, flush: rep.flush}
}
