package main

import (
	"os"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

// newDefinition is `bgjob definition`: the stored definitions whose
// triggers the host fires (PowerShell's Get-ScheduledJob, Enable- and
// Disable-ScheduledJob).
func newDefinition() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "definition list | show NAME | enable NAME | disable NAME | reload",
		Short: "Stored job definitions and their triggers (Get-, Enable-, Disable-ScheduledJob)",
		Long: `Stored job definitions are files in the definition directory
($BGJOB_DEFINITIONS, else $XDG_CONFIG_HOME/bgjob/jobs, else
~/.config/bgjob/jobs). The host reads them again when the directory
changes, and starts each enabled definition at its trigger times, as
'bgjob start --type T --definition-name NAME' would; while definitions
have triggers, keep the host running ('bgjob host', or a user service).
The host keeps the directory it started with: when yours is another
(BGJOB_DEFINITIONS changed since), these commands are refused, naming
both, until the host is stopped ('bgjob host stop').

  list            every definition: type, enabled, triggers, next and last run
  show NAME       one definition, with what it runs
  enable NAME     turn its triggers on (kept across host restarts)
  disable NAME    turn its triggers off
  reload          read the directory again now

NAME may be a wildcard pattern (show wants it to match one). Definitions
that cannot be read are reported as warnings with their file:line:column.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(args) > 2 {
				return api.Errorf(api.ExitUsage, "usage: bgjob definition list | show NAME | enable NAME | disable NAME | reload")
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			req := &api.DefinitionRequest{Action: args[0]}
			switch args[0] {
			case api.DefinitionList, api.DefinitionReload:
				if len(args) > 1 {
					return api.Errorf(api.ExitUsage, "definition %s takes no name", args[0])
				}
			case api.DefinitionShow, api.DefinitionEnable, api.DefinitionDisable:
				if len(args) < 2 {
					return api.Errorf(api.ExitUsage, "definition %s wants a NAME", args[0])
				}
				req.Name = args[1]
			default:
				return api.Errorf(api.ExitUsage, "unknown definition command %q; use list, show, enable, disable or reload", args[0])
			}
			req.Dir = definitionDir()
			return call(&api.Request{Op: api.OpDefinition, Definition: req, Output: output})
		},
	}
	outputFlag(cmd.Flags(), &output, "table or json", api.FormatTable, api.FormatJSON)
	return cmd
}

// definitionDir is the definition directory the caller means, for the host
// to check it schedules that one: $BGJOB_DEFINITIONS or the default, as
// 'bgjob start --definition-name' reads. For a system host only an
// explicit $BGJOB_DEFINITIONS counts: the service's directory is set where
// it is started, and the caller's own default says nothing about it. ""
// lets the host answer about its own.
func definitionDir() string {
	if systemSocket() != "" && os.Getenv("BGJOB_DEFINITIONS") == "" {
		return ""
	}
	dir, err := api.DefaultDefinitions()
	if err != nil {
		return ""
	}
	return dir
}
