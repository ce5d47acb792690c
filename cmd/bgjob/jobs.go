package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func newGet() *cobra.Command {
	var (
		f       api.Filter
		hasMore string
		output  string
		before  string
		after   string
	)
	cmd := &cobra.Command{
		Use:   "get [JOB...]",
		Short: "List jobs (Get-Job)",
		Long:  "List jobs as a table (Id Name PSJobTypeName State HasMoreData Location Command), or with -o json every property.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd); err != nil {
				return err
			}
			if f.Newest < 0 || cmd.Flags().Changed("newest") && f.Newest == 0 {
				return api.Errorf(api.ExitUsage, "--newest %d: give a positive number of jobs", f.Newest)
			}
			if hasMore != "" {
				b, err := strconv.ParseBool(hasMore)
				if err != nil {
					return api.Errorf(api.ExitUsage, "--has-more-data wants true or false, not %q", hasMore)
				}
				f.HasMoreData = &b
			}
			for _, w := range []struct {
				flag, s string
				to      **time.Time
			}{{"--before", before, &f.Before}, {"--after", after, &f.After}} {
				if w.s == "" {
					continue
				}
				t, err := parseWhen(w.s, time.Now())
				if err != nil {
					return api.Errorf(api.ExitUsage, "%s: %v", w.flag, err)
				}
				*w.to = &t
			}
			return call(&api.Request{Op: api.OpGet, Jobs: args, Filter: &f, Output: output})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.State, "state", "", "only jobs in this state (Running, Completed, Failed, ...)")
	fl.StringVar(&f.Command, "command", "", "only jobs whose command matches this wildcard pattern")
	fl.StringVar(&hasMore, "has-more-data", "", "only jobs with (true) or without (false) unreceived data")
	fl.IntVar(&f.Newest, "newest", 0, "only the N newest jobs")
	fl.StringVar(&f.Type, "type", "", "only jobs of this type (BackgroundJob, ScheduledJob, ...); the table then shows when each started")
	fl.Var(once(&f.Group), "group", "only jobs in this queue group")
	fl.StringVar(&before, "before", "", "only jobs that began before TIME (2026-03-01, '2026-03-01 14:00', 14:00 today, or 2h, 3d ago); a queued job counts from when it was created")
	fl.StringVar(&after, "after", "", "only jobs that began at or after TIME (as --before)")
	fl.StringVar(&f.ChildJobState, "child-job-state", "", "only jobs with a child job in this state (a job on Slurm has one per node or task)")
	fl.BoolVar(&f.IncludeChildJobs, "include-child-jobs", false, "list child jobs too (a job on several nodes has one per node or task), each after its parent")
	outputFlag(fl, &output, "table, wide (begin and end time, duration, exit code, runtime), json, or id (the ids alone, one a line)", api.FormatTable, api.FormatWide, api.FormatJSON, api.FormatID)
	return cmd
}

func newReceive() *cobra.Command {
	var req api.Request
	var tail int
	cmd := &cobra.Command{
		Use:   "receive JOB...",
		Short: "Print a job's streams (Receive-Job)",
		Long: `Print the records the jobs have produced and you have not received yet, and
mark them received (unless --keep). Text mode: output and information to
stdout; errors to stderr (red on a terminal); warnings to stderr as
"WARNING: ..." (yellow); verbose and debug records only with --verbose /
--debug (dimmed); progress as live bars on a terminal with --wait. -o json
prints one record per line: {"jobId","seq","stream","time",...}.

A job that failed ends its output with its reason on stderr
("bgjob: job 12 (Build) failed: exit status 7", or in JSON a line
{"jobId","state":"Failed","reason","exitCode"}), and receive exits 1.

--wait prints until the jobs end, several jobs' records as they arrive
(--prefix labels each line with its job); with --keep it follows them
without consuming anything, as tail -f does. Ctrl-C stops receiving and
leaves the jobs running.

--tail N prints only the last N records (lines) of each job that the
output would show, as tail -n does, and consumes nothing: it implies
--keep, so the records before them are not lost unseen and a later
receive still gets everything. With --wait it then follows the jobs
(tail -n N -f).`,
		Example: `  bgjob receive Build
  bgjob receive --wait --keep Build        # follow, consume nothing
  bgjob receive --tail 20 Build            # the last 20 lines, consume nothing
  bgjob receive --tail 5 --wait Build      # tail -n 5 -f
  bgjob receive --wait --prefix 'test-*'   # several jobs, lines labelled
  bgjob receive -o json Build | jq .`,
		Args: needJobs("receive from"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd); err != nil {
				return err
			}
			if cmd.Flags().Changed("tail") {
				if tail < 0 {
					return api.Errorf(api.ExitUsage, "--tail %d: give a number of records, 0 or more", tail)
				}
				if req.AutoRemove {
					return api.Errorf(api.ExitUsage, "--tail reads without consuming, so it does not go with --auto-remove")
				}
				req.Tail, req.Keep = &tail, true
			}
			req.Op, req.Jobs = api.OpReceive, args
			return call(&req)
		},
	}
	f := cmd.Flags()
	f.IntVar(&tail, "tail", 0, "only the last N records (lines) of each job, consuming nothing (implies --keep); with --wait, then what follows")
	f.BoolVar(&req.Keep, "keep", false, "leave the records to be received again")
	f.BoolVar(&req.Wait, "wait", false, "keep printing until the jobs end (with --keep: follow them)")
	f.BoolVar(&req.Prefix, "prefix", false, "label each line with its job's name, [Name]")
	f.StringVar(&req.Location, "location", "", "only the jobs at this location: for a job on several nodes, the child jobs on this node (wildcards allowed)")
	f.BoolVar(&req.AutoRemove, "auto-remove", false, "remove each job once it has ended and been received (needs --wait)")
	f.BoolVar(&req.Verbose, "verbose", false, "print verbose records")
	f.BoolVar(&req.Debug, "debug", false, "print debug records")
	outputFlag(f, &req.Output, "text or json", api.FormatText, api.FormatJSON)
	return cmd
}

func newWait() *cobra.Command {
	var req api.Request
	var state, group string
	cmd := &cobra.Command{
		Use:   "wait JOB... | wait --state STATE | wait --group GROUP",
		Short: "Wait until jobs finish (Wait-Job)",
		Long:  "Wait until all the jobs (or, with --any, one of them) have finished, then print them. A suspended job ends the wait too, unless --force. With --state, the jobs are those in that state now (wait --state Running waits for the running jobs); with --group, those in that queue group now (among those named, or all).",
		Example: `  bgjob wait Build
  bgjob wait --any --timeout 60 'test-*'
  bgjob wait --state Running
  bgjob wait --group gpu`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needJobsOrState(cmd, args, "wait for", state+group); err != nil {
				return err
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			if req.Timeout < 0 || math.IsNaN(req.Timeout) || math.IsInf(req.Timeout, 0) {
				return api.Errorf(api.ExitUsage, "--timeout wants a number of seconds, 0 or more (0 waits for ever), not %v", req.Timeout)
			}
			req.Op, req.Jobs, req.Filter = api.OpWait, args, stateFilter(state)
			if group != "" {
				req.Filter = &api.Filter{State: state, Group: group}
			}
			return call(&req)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.Any, "any", false, "return as soon as one job has finished")
	f.BoolVar(&req.Force, "force", false, "wait for suspended jobs too (without it, a suspended job counts as done waiting, as Wait-Job -Force)")
	f.StringVar(&state, "state", "", "the jobs in this state (any case)")
	f.Var(once(&group), "group", "the jobs in this queue group ('bgjob queue' lists the groups)")
	f.Var(secondsFlag{&req.Timeout}, "timeout", "give up after this many seconds (30, 0.5), or this long (90s, 2m), exit code 4")
	outputFlag(f, &req.Output, "table or json", api.FormatTable, api.FormatJSON)
	return cmd
}

func newStop() *cobra.Command {
	cmd := newActOn(api.OpStop, "Stop jobs (Stop-Job)",
		`Stop the jobs: their processes get a grace period to end, then are killed.
Returns when they have ended. With --state, the jobs (among those named, or
all) in that state.

--signal SIG sends that signal (TERM, INT, HUP, KILL, USR1, ...) to the
processes each running job started instead, and returns at once, as kill
does: the job goes on unless the signal ends what it runs. The job's runtime
itself does not get it: a script its runtime interprets (the shell runtime's
own loops) sees only its commands' processes take it.`,
		`  bgjob stop Build
  bgjob stop --state Running
  bgjob stop --passthru 'test-*'
  bgjob stop --signal USR1 Train`,
		"print the stopped jobs")
	cmd.Flags().String("signal", "", "send this signal (TERM, INT, HUP, KILL, USR1, ...) to the running jobs' processes instead of stopping them")
	return cmd
}

// newActOn is a command that does op to the jobs named, or to those in a
// --state, and with --passthru prints them: stop, suspend, resume.
func newActOn(op, short, long, example, passthru string) *cobra.Command {
	var req api.Request
	var state string
	cmd := &cobra.Command{
		Use:     op + " JOB... | " + op + " --state STATE",
		Short:   short,
		Long:    long,
		Example: example,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needJobsOrState(cmd, args, op, state); err != nil {
				return err
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			req.Op, req.Jobs, req.Filter = op, args, stateFilter(state)
			if f := cmd.Flags().Lookup("signal"); f != nil {
				req.Signal = f.Value.String()
			}
			return call(&req)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.PassThru, "passthru", false, passthru)
	f.StringVar(&state, "state", "", "the jobs in this state (any case)")
	outputFlag(f, &req.Output, "table or json", api.FormatTable, api.FormatJSON)
	return cmd
}

func newRemove() *cobra.Command {
	var req api.Request
	var state string
	cmd := &cobra.Command{
		Use:   "remove JOB... | remove --state STATE",
		Short: "Remove jobs and their records (Remove-Job)",
		Long: `Remove finished jobs and their records. With --force, unfinished jobs are
stopped first and removed too; without it they are left. A job over SSH
whose computer cannot be reached is removed with --force without being
stopped there, and stderr says that it may still run there and how to stop
it once the computer answers. Leaving a job you
named exactly (an id, an instance id, a name without wildcards) is an error
(exit code 6), once the others are removed; leaving one that a wildcard or
--state picked is not: it is named on stderr and remove exits 0, so
remove '*' clears what is done. With --state, the jobs (among those named,
or all) in that state.`,
		Example: `  bgjob remove Build
  bgjob remove '*'                 # every finished job
  bgjob remove --state Failed
  bgjob remove --force Build       # stop it first`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needJobsOrState(cmd, args, "remove", state); err != nil {
				return err
			}
			req.Op, req.Jobs, req.Filter = api.OpRemove, args, stateFilter(state)
			return call(&req)
		},
	}
	cmd.Flags().BoolVar(&req.Force, "force", false, "stop unfinished jobs first")
	cmd.Flags().StringVar(&state, "state", "", "the jobs in this state (any case): Completed, Failed, Stopped, ...")
	return cmd
}

// stateFilter is --state as the request's filter.
func stateFilter(state string) *api.Filter {
	if state == "" {
		return nil
	}
	return &api.Filter{State: state}
}

// needJobsOrState insists on job selectors unless --state selects.
func needJobsOrState(cmd *cobra.Command, args []string, verb, state string) error {
	if len(args) > 0 || state != "" {
		return nil
	}
	return needJobs(verb)(cmd, args)
}

// parseWhen reads get's --before and --after: a date and time in the
// caller's time zone (RFC 3339, 2006-01-02, '2006-01-02 15:04[:05]'), a
// time of day today (15:04[:05]), or an age (90m, 36h, 7d) meaning that
// long before now. Read here, not by the host: the time zone is the
// caller's.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, now.Location()), nil
		}
	}
	if d, err := api.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give 2026-03-01, '2026-03-01 14:00', 14:00 (today), or an age such as 90m, 2h or 3d", s)
}

func newEvents() *cobra.Command {
	var req api.Request
	var state, group string
	var since uint64
	var ev api.EventsRequest
	cmd := &cobra.Command{
		Use:   "events [JOB...] [--state S] [--since SEQ] [--until-done]",
		Short: "Print jobs' state changes as they happen (Register-ObjectEvent StateChanged)",
		Long: `Print each change of a job's state as it happens, one a line: its
number (SEQ), time, job id, name, old -> new state, and for a finished job
the exit code and reason. With -o json, one JSON object a line.

The host keeps its recent events (the last 10000 at least) in its home:
--since SEQ prints those after SEQ first, so a script that stopped
listening (or a host that was restarted) resumes where it left off
without missing one. Without --since, it begins with the next change.

With JOB... only those jobs' changes (as named now); with --state only
changes to that state (events --state Failed); with --group, that queue
group's. It runs until Ctrl-C, or with --until-done until the selected
jobs (all your jobs, if none are named) have all finished.`,
		Example: `  bgjob events
  bgjob events Build --until-done
  bgjob events --state Failed -o json
  bgjob events --since 120`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd); err != nil {
				return err
			}
			if cmd.Flags().Changed("since") {
				ev.Since = &since
			}
			req.Op, req.Jobs, req.Filter, req.Events = api.OpEvents, args, stateFilter(state), &ev
			if group != "" {
				req.Filter = &api.Filter{State: state, Group: group}
			}
			return call(&req)
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "only changes to this state (any case)")
	f.Var(once(&group), "group", "only the changes of jobs in this queue group")
	f.Uint64Var(&since, "since", 0, "first print the kept events after this number (0: all kept)")
	f.BoolVar(&ev.UntilDone, "until-done", false, "end once the selected jobs have all finished")
	outputFlag(f, &req.Output, "text or json", api.FormatText, api.FormatJSON)
	return cmd
}
