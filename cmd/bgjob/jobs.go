package main

import (
	"math"
	"strconv"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func newGet() *cobra.Command {
	var (
		f       api.Filter
		hasMore string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "get [JOB...]",
		Short: "List jobs (Get-Job)",
		Long:  "List jobs as a table (Id Name PSJobTypeName State HasMoreData Location Command), or with -o json every property.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, api.FormatTable, api.FormatJSON); err != nil {
				return err
			}
			if hasMore != "" {
				b, err := strconv.ParseBool(hasMore)
				if err != nil {
					return api.Errorf(api.ExitUsage, "--has-more-data wants true or false, not %q", hasMore)
				}
				f.HasMoreData = &b
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
	fl.StringVarP(&output, "output", "o", api.FormatTable, "table or json")
	return cmd
}

func newReceive() *cobra.Command {
	var req api.Request
	cmd := &cobra.Command{
		Use:   "receive JOB...",
		Short: "Print a job's streams (Receive-Job)",
		Long: `Print the records the jobs have produced and you have not received yet, and
mark them received (unless --keep). Text mode: output and information to
stdout; errors to stderr; warnings to stderr as "WARNING: ..."; verbose and
debug records only with --verbose / --debug. -o json prints one record per
line: {"jobId","seq","stream","time",...}.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(req.Output, api.FormatText, api.FormatJSON); err != nil {
				return err
			}
			req.Op, req.Jobs = api.OpReceive, args
			return call(&req)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.Keep, "keep", false, "leave the records to be received again")
	f.BoolVar(&req.Wait, "wait", false, "keep printing until the jobs end")
	f.BoolVar(&req.AutoRemove, "auto-remove", false, "remove each job once it has ended and been received (needs --wait)")
	f.BoolVar(&req.Verbose, "verbose", false, "print verbose records")
	f.BoolVar(&req.Debug, "debug", false, "print debug records")
	f.StringVarP(&req.Output, "output", "o", api.FormatText, "text or json")
	return cmd
}

func newWait() *cobra.Command {
	var req api.Request
	cmd := &cobra.Command{
		Use:   "wait JOB...",
		Short: "Wait until jobs finish (Wait-Job)",
		Long:  "Wait until all the jobs (or, with --any, one of them) have finished, then print them.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(req.Output, api.FormatTable, api.FormatJSON); err != nil {
				return err
			}
			if req.Timeout < 0 || math.IsNaN(req.Timeout) || math.IsInf(req.Timeout, 0) {
				return api.Errorf(api.ExitUsage, "--timeout wants a number of seconds, 0 or more (0 waits for ever), not %v", req.Timeout)
			}
			req.Op, req.Jobs = api.OpWait, args
			return call(&req)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.Any, "any", false, "return as soon as one job has finished")
	f.Float64Var(&req.Timeout, "timeout", 0, "give up after this many seconds (exit code 4)")
	f.StringVarP(&req.Output, "output", "o", api.FormatTable, "table or json")
	return cmd
}

func newStop() *cobra.Command {
	var req api.Request
	cmd := &cobra.Command{
		Use:   "stop JOB...",
		Short: "Stop jobs (Stop-Job)",
		Long:  "Stop the jobs: their processes get a grace period to end, then are killed. Returns when they have ended.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(req.Output, api.FormatTable, api.FormatJSON); err != nil {
				return err
			}
			req.Op, req.Jobs = api.OpStop, args
			return call(&req)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.PassThru, "passthru", false, "print the stopped jobs")
	f.StringVarP(&req.Output, "output", "o", api.FormatTable, "table or json")
	return cmd
}

func newRemove() *cobra.Command {
	var req api.Request
	cmd := &cobra.Command{
		Use:   "remove JOB...",
		Short: "Remove jobs and their records (Remove-Job)",
		Long:  "Remove finished jobs and their records. An unfinished job is an error (exit code 6) unless --force, which stops it first.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Op, req.Jobs = api.OpRemove, args
			return call(&req)
		},
	}
	cmd.Flags().BoolVar(&req.Force, "force", false, "stop unfinished jobs first")
	return cmd
}
