package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

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
		if req.Output == api.FormatID {
			return writeIDs(out, jobs)
		}
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
		ctx := tellStderr(ctx, rep)
		if req.Wait {
			ctx = host.WithForeground(ctx)
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
		sink, err := newSink(ctx, h, req, rep)
		if err != nil {
			return err
		}
		o := host.ReceiveOptions{Keep: req.Keep, Wait: req.Wait, AutoRemove: req.AutoRemove, Location: req.Location}
		if req.Tail != nil {
			if *req.Tail < 0 || req.AutoRemove {
				return badRequest("--tail wants a number of records, 0 or more, and reads without removing (not with --auto-remove)")
			}
			err = receiveTail(ctx, h, req, o, sink)
		} else {
			err = h.Receive(ctx, req.Jobs, o, sink)
		}
		if err != nil {
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
		stop := h.Stop
		if req.Signal != "" {
			stop = func(ctx context.Context, sel []string, opts ...host.SelectOption) ([]*api.Job, error) {
				return h.Signal(ctx, sel, req.Signal, opts...)
			}
		}
		jobs, err := stop(tellStderr(ctx, rep), req.Jobs, stateOf(req)...)
		if err != nil || !req.PassThru {
			return err
		}
		return printJobs(jobs, false)
	case api.OpRemove:
		return removeJobs(tellStderr(ctx, rep), h, req, rep.writer(api.FrameStderr))
	case api.OpSuspend, api.OpResume:
		act := h.Suspend
		if req.Op == api.OpResume {
			act = h.Resume
		}
		jobs, err := act(tellStderr(ctx, rep), req.Jobs, stateOf(req)...)
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
	case api.OpEdit:
		if req.Edit == nil {
			return badRequest("edit without a change")
		}
		if req.Edit.Show {
			script, err := h.Script(ctx, req.Jobs)
			if err != nil {
				return err
			}
			_, err = io.WriteString(out, script)
			return err
		}
		j, err := h.Edit(ctx, req.Jobs, req.Edit)
		if err != nil {
			return err
		}
		return printJobs([]*api.Job{j}, false)
	case api.OpSend:
		if req.Send == nil {
			return badRequest("send without input")
		}
		if len(req.Send.Data) > api.MaxSend {
			return badRequest("a send carries at most %d bytes; 'bgjob send JOB -' sends more in pieces", api.MaxSend)
		}
		return h.Send(ctx, req.Jobs, req.Send.Data, req.Send.EOF)
	case api.OpLocation:
		return writeLocations(out, h.Locations(ctx), jsonOut)
	case api.OpEvents:
		return h.Events(ctx, req.Jobs, req.Filter, req.Events, func(e *api.Event) error {
			if err := writeEvent(out, e, jsonOut); err != nil {
				return err
			}
			return rep.sync() // each event as it happens
		})
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

// writeIDs writes the jobs' ids, one a line: what a script captures
// (id=$(bgjob start -q ...)).
func writeIDs(w io.Writer, jobs []*api.Job) error {
	var b strings.Builder
	for _, j := range jobs {
		fmt.Fprintln(&b, j.ID)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tellStderr has what a call goes ahead with, but the user should know
// (a job a wildcard picked and the call passed over), go to its stderr.
func tellStderr(ctx context.Context, rep *reply) context.Context {
	return host.WithNotices(ctx, func(n string) {
		fmt.Fprintf(rep.writer(api.FrameStderr), "bgjob: %s\n", printable(n))
	})
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

// removeJobs is remove. The finished jobs selected go; an unfinished one is
// stopped and removed with --force, and otherwise left. Left is an error
// (ExitConflict) for a job the caller named exactly (an id, an instance id,
// a name without wildcards): they asked for that job to go. A job a
// wildcard or --state picked is left without failing the call, and named
// on stderr: `remove '*'` clears what is done and goes on in a `&&` chain.
// A job --force removed without stopping it (over SSH, its computer out of
// reach) is named on stderr too: it may still run there.
func removeJobs(ctx context.Context, h *host.Host, req *api.Request, stderr io.Writer) error {
	err := h.Remove(ctx, req.Jobs, req.Force, stateOf(req)...)
	var nf *host.NotFinishedError
	if !errors.As(err, &nf) || nf.Named {
		return err
	}
	var left []string
	for _, j := range nf.Left {
		left = append(left, fmt.Sprintf("%d (%s, %s)", j.ID, printable(j.Name), j.State))
	}
	them := "it"
	if len(left) > 1 {
		them = "them"
	}
	fmt.Fprintf(stderr, "bgjob: left what is not finished: job %s; 'bgjob remove --force' would stop and remove %s\n", strings.Join(left, ", "), them)
	return nil
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
	// A job of this machine is removed by the receive itself once it has
	// passed on all of it: the job's end is then never written, only the
	// row's deletion (see runner's finishFromRuntime), and the final row
	// comes to the sink's End. A parent (a job at a location) is received
	// child by child, so its own final row is asked for after.
	local := len(j.ChildJobs) == 0
	end := &endSeen{receiveSink: sink}
	for _, m := range req.Resume {
		if m.End {
			// Its end was printed before the last host died.
			end.told = append(end.told, m.Job)
		}
	}
	var to host.Sink = end
	if req.Marks && rep.direct == nil {
		// The caller keeps how far it has each job's records and, should
		// this host die, tells the next one (req.Resume). Output written
		// straight to the caller's own file is not the caller's to count.
		rep.marking = true
		to = &markSink{endSeen: end, rep: rep}
	}
	if j.State.Finished() {
		// A start sent again whose job ran, was received whole and
		// removed just before the host was killed: a new job has not
		// begun, so this is the one that ran (its tomb's row); its
		// output went to the caller the first time.
		if _, err := h.Jobs(ctx, sel, nil); errors.Is(err, host.ErrNotFound) {
			return finished(j, rep)
		}
	}
	if err := h.Receive(ctx, sel, host.ReceiveOptions{Wait: true, AutoRemove: local, Resume: req.Resume}, to); err != nil {
		caller, _ := host.CallerFrom(ctx)
		bg := host.WithCaller(context.Background(), caller)
		switch {
		case ctx.Err() != nil || rep.err != nil && rep.direct == nil:
			// The caller went away: its connection ended, or a write to
			// it failed (which, with nothing to acknowledge, is often how
			// the host learns it first). The job was its foreground.
			go func() {
				if err := h.Remove(bg, sel, true); err != nil {
					h.Logger().Warn("cannot stop and remove an interrupted start --wait job", "job", j.ID, "err", err)
				}
			}()
		case rep.err != nil:
			return outputGone(bg, h, j, err)
		}
		return err
	}
	fin := end.fin
	if !local {
		jobs, err := h.Jobs(ctx, sel, nil)
		if err != nil || len(jobs) != 1 {
			return err
		}
		fin = jobs[0]
		if err := h.Remove(ctx, sel, false); err != nil {
			return err
		}
	}
	if fin == nil {
		// Removed by someone else before its end was seen.
		return fmt.Errorf("job %d was removed before it ended: %w", j.ID, host.ErrNotFound)
	}
	return finished(fin, rep)
}

// outputGone is start --wait's answer when the host could not write the
// job's output into the caller's own files (a full disk; a reader gone,
// which the answer makes a quiet 141 as SIGPIPE would): a job still going
// is stopped and removed, as a program in the foreground goes with its
// pipe; one that has ended keeps what could not be written, for receive.
func outputGone(ctx context.Context, h *host.Host, j *api.Job, err error) error {
	sel := []string{fmt.Sprint(j.ID)}
	name := printable(j.Name)
	if js, jerr := h.Jobs(ctx, sel, nil); jerr == nil && len(js) == 1 && js[0].State.Finished() {
		return fmt.Errorf("%w; job %d (%s) ended %s, and what could not be written stays with it: bgjob receive %d", err, j.ID, name, js[0].State, j.ID)
	}
	if rerr := h.Remove(ctx, sel, true); rerr != nil && !errors.Is(rerr, host.ErrNotFound) {
		return fmt.Errorf("%w; job %d (%s) could not be stopped and removed: %v", err, j.ID, name, rerr)
	}
	return fmt.Errorf("%w; job %d (%s) is stopped and removed: its output had nowhere to go", err, j.ID, name)
}

// finished is start --wait's answer for its job's last row fin.
func finished(fin *api.Job, rep *reply) error {
	switch fin.State {
	case api.Completed:
		return nil
	case api.Stopped:
		fmt.Fprintf(rep.writer(api.FrameStderr), "bgjob: %s\n", stoppedText(fin))
		return exitCodeOnly(api.ExitJobStopped)
	}
	// Failed: the sink said why.
	if c := fin.ExitCode; c != nil && *c > 0 && *c < 256 {
		return exitCodeOnly(*c)
	}
	return exitCodeOnly(api.ExitJobFailed)
}

// endSeen keeps the final row of the job a receive ends with.
type endSeen struct {
	receiveSink
	fin  *api.Job
	told []uint64 // jobs whose end the caller has printed already
}

func (s *endSeen) End(j *api.Job) error {
	s.fin = j
	if slices.Contains(s.told, j.ID) {
		return nil
	}
	return s.receiveSink.End(j)
}

// markSink is a start --wait's sink for a caller that takes marks: the
// reply sends each job's last mark after the records it covers.
type markSink struct {
	*endSeen
	rep *reply
}

func (s *markSink) Mark(m api.Mark) error { return s.rep.setMark(m) }

// stoppedText says that j was stopped, and why when the reason says more
// than its state does (a runtime's reason is often just "stopped").
func stoppedText(j *api.Job) string {
	msg := fmt.Sprintf("job %d (%s) was stopped", j.ID, printable(j.Name))
	if r := strings.TrimSpace(j.StateReason); r != "" && !strings.EqualFold(r, string(api.Stopped)) {
		msg += ": " + printable(r)
	}
	return msg
}

// receiveSink is a host.Sink that knows which jobs it saw fail.
type receiveSink interface {
	host.Sink
	End(*api.Job) error
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
	api.OpEdit:    {"edit", false},
	api.OpSend:    {"send input to", false},
}
