package main

import (
	"fmt"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

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
