package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

// needJob requires exactly one JOB argument, and says so as needJobs does
// (edit, send): "bgjob edit: give the job to edit (an id, a name or an
// instance id); 'bgjob get' lists them", exit code 2.
func needJob(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 {
			return nil
		}
		if len(args) == 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: give the job to %s (an id, a name or an instance id); 'bgjob get' lists them\n", cmd.CommandPath(), verb)
		} else {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: give one job, not %d\n", cmd.CommandPath(), len(args))
		}
		return &silentError{code: api.ExitUsage}
	}
}

// needJobs requires at least one JOB argument, and without one says, before
// any host is asked, what to give: "bgjob receive: give the jobs to
// receive from (an id, a name, a wildcard or an instance id); 'bgjob get'
// lists them", with exit code 2. verb completes "give the jobs to ...".
func needJobs(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return nil
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: give the jobs to %s (an id, a name, a wildcard or an instance id); 'bgjob get' lists them\n", cmd.CommandPath(), verb)
		return &silentError{code: api.ExitUsage}
	}
}

// durationFlag is a duration flag that takes days too (7d), as every
// duration bgjob reads does (api.ParseDuration); Go's takes hours at most.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := api.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func (durationFlag) Type() string { return "duration" }

// secondsFlag is wait's --timeout: seconds (30, 0.5), as Wait-Job's
// -Timeout, or a duration (90s, 2m, 1d).
type secondsFlag struct{ s *float64 }

func (f secondsFlag) String() string {
	if f.s == nil {
		return "0"
	}
	return strconv.FormatFloat(*f.s, 'g', -1, 64)
}

func (f secondsFlag) Set(s string) error {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*f.s = n
		return nil
	}
	d, err := api.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is neither seconds (30, 0.5) nor a duration (90s, 2m)", s)
	}
	*f.s = d.Seconds()
	return nil
}

func (secondsFlag) Type() string { return "seconds" }
