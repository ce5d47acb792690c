package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
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
		cols := columns{owner: s.system && caller.Root(), started: req.Filter != nil && req.Filter.Type != "",
			wide: req.Output == api.FormatWide}
		if req.Term != nil {
			cols.width = req.Term.Width
		}
		return writeJobTable(out, jobs, cols)
	}
	if n, ok := actsOnJobs[req.Op]; ok && len(req.Jobs) == 0 && !(n.byState && hasState(req)) {
		return badRequest("name the jobs to %s", n.verb)
	}
	switch req.Op {
	case api.OpPing:
		return nil
	case api.OpStart:
		if req.Start == nil {
			return badRequest("start without a job")
		}
		// What the start goes ahead with but the user should know
		// goes to stderr, before the job's row.
		ctx := host.WithNotices(ctx, func(n string) {
			fmt.Fprintf(rep.writer(api.FrameStderr), "bgjob: %s\n", printable(n))
		})
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
		sink, err := newSink(ctx, h, req, rep)
		if err != nil {
			return err
		}
		if err := h.Receive(ctx, req.Jobs, host.ReceiveOptions{Keep: req.Keep, Wait: req.Wait, AutoRemove: req.AutoRemove, Location: req.Location}, sink); err != nil {
			return err
		}
		if len(sink.failures()) > 0 {
			return exitCodeOnly(api.ExitJobFailed) // the reasons went to stderr
		}
		return nil
	case api.OpWait:
		opts := stateOf(req)
		if req.Force {
			opts = append(opts, host.UntilFinished())
		}
		jobs, err := h.Wait(ctx, req.Jobs, req.Any, api.WaitTimeout(req.Timeout), opts...)
		if perr := printJobs(jobs, false); err == nil {
			err = perr
		}
		return err
	case api.OpStop:
		jobs, err := h.Stop(ctx, req.Jobs, stateOf(req)...)
		if err != nil || !req.PassThru {
			return err
		}
		return printJobs(jobs, false)
	case api.OpRemove:
		return h.Remove(ctx, req.Jobs, req.Force, stateOf(req)...)
	case api.OpSuspend, api.OpResume:
		act := h.Suspend
		if req.Op == api.OpResume {
			act = h.Resume
		}
		jobs, err := act(ctx, req.Jobs, stateOf(req)...)
		if err != nil || !req.PassThru {
			return err
		}
		return printJobs(jobs, false)
	case api.OpRestart:
		if req.Restart != nil && req.Restart.Show {
			script, err := h.Script(ctx, req.Jobs)
			if err != nil {
				return err
			}
			_, err = io.WriteString(out, script)
			return err
		}
		jobs, err := h.Restart(ctx, req.Jobs, req.Restart, stateOf(req)...)
		if err != nil {
			return err
		}
		return printJobs(jobs, false)
	case api.OpLocation:
		return writeLocations(out, h.Locations(ctx), jsonOut)
	case api.OpQueue:
		q, err := h.Queue(ctx, req.Queue)
		if err != nil {
			return err
		}
		return writeQueue(out, q, jsonOut)
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

// stateOf is the request's --state (and --group) as selection options.
func stateOf(req *api.Request) []host.SelectOption {
	if req.Filter == nil {
		return nil
	}
	return []host.SelectOption{host.InState(req.Filter.State), host.InGroup(req.Filter.Group)}
}

func hasState(req *api.Request) bool {
	return req.Filter != nil && (req.Filter.State != "" || req.Filter.Group != "")
}

// startWait is `start --wait`: the job's records as they come, then its
// removal. It ends with the job's own exit status when the job ran to its
// end, as time, timeout or docker run do, so it drops into scripts;
// otherwise with ExitJobFailed (failed without a status of its own: its
// runtime crashed, say) or ExitJobStopped. The caller going away (Ctrl-C)
// stops the job and removes it: it was in the foreground.
func startWait(ctx context.Context, h *host.Host, j *api.Job, req *api.Request, rep *reply) error {
	sel := []string{fmt.Sprint(j.ID)}
	sink, err := newSink(ctx, h, req, rep)
	if err != nil {
		return err
	}
	if err := h.Receive(ctx, sel, host.ReceiveOptions{Wait: true}, sink); err != nil {
		if ctx.Err() != nil {
			caller, _ := host.CallerFrom(ctx)
			go func() {
				bg := host.WithCaller(context.Background(), caller)
				if err := h.Remove(bg, sel, true); err != nil {
					h.Logger().Warn("cannot stop and remove an interrupted start --wait job", "job", j.ID, "err", err)
				}
			}()
		}
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
	switch fin.State {
	case api.Completed:
		return nil
	case api.Stopped:
		fmt.Fprintf(rep.writer(api.FrameStderr), "bgjob: job %d (%s) was stopped: %s\n", fin.ID, printable(fin.Name), fin.StateReason)
		return exitCodeOnly(api.ExitJobStopped)
	}
	// Failed: the sink said why.
	if c := fin.ExitCode; c != nil && *c > 0 && *c < 256 {
		return exitCodeOnly(*c)
	}
	return exitCodeOnly(api.ExitJobFailed)
}

// receiveSink is a host.Sink that knows which jobs it saw fail.
type receiveSink interface {
	host.Sink
	failures() []*api.Job
}

func (s *textSink) failures() []*api.Job { return s.failed }
func (s *jsonSink) failures() []*api.Job { return s.failed }

// newSink renders received records as the request asks: JSON lines, or
// text, coloured, labelled and with progress frames for a terminal.
func newSink(ctx context.Context, h *host.Host, req *api.Request, rep *reply) (receiveSink, error) {
	if req.Output == api.FormatJSON {
		return &jsonSink{out: rep.writer(api.FrameStdout), flush: rep.sync}, nil
	}
	s := &textSink{out: rep.writer(api.FrameStdout), err: rep.writer(api.FrameStderr),
		verbose: req.Verbose, debug: req.Debug, flush: rep.sync}
	names := map[uint64]string{}
	if req.Prefix || (req.Term != nil && req.Term.Progress) {
		// start --wait: all, its own among them; a parent's children
		// too, whose records a parent's are.
		jobs, err := h.Jobs(ctx, req.Jobs, &api.Filter{IncludeChildJobs: true})
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			names[j.ID] = j.Name
		}
	}
	if req.Prefix {
		s.label = func(id uint64) string { return "[" + printable(names[id]) + "] " }
	}
	if t := req.Term; t != nil {
		s.color = t.Color
		if t.Progress {
			s.progress = func(id uint64, p *sdk.ProgressDetail) error {
				b, err := json.Marshal(api.Progress{JobID: id, Job: names[id], ActivityID: p.ActivityId, ParentID: p.ParentId,
					Activity: p.Activity, Status: p.Status, CurrentOperation: p.CurrentOperation, Percent: p.Percent,
					SecondsRemaining: p.SecondsRemaining, Completed: p.Completed})
				if err != nil {
					return err
				}
				_, err = rep.write(api.FrameProgress, b)
				return err
			}
		}
	}
	return s, nil
}

// actsOnJobs is each command that acts on jobs named by the caller, in its
// own words for the refusal when none are named; byState says a --state
// filter names them too.
var actsOnJobs = map[string]struct {
	verb    string
	byState bool
}{
	api.OpReceive: {"receive from", false},
	api.OpWait:    {"wait for", true},
	api.OpStop:    {"stop", true},
	api.OpRemove:  {"remove", true},
	api.OpSuspend: {"suspend", true},
	api.OpResume:  {"resume", true},
	api.OpRestart: {"restart", true},
}
