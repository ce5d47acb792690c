package main

import (
	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

// newRuntime hands `bgjob runtime ...` to `bgjobd runtime ...`. The catalog
// code (semver, hashing) stays out of the CLI, whose every call would
// otherwise pay for its initialisation; the catalog is a folder of files,
// so no running host is needed.
func newRuntime() *cobra.Command {
	return &cobra.Command{
		Use:                "runtime list [-o json] | install PATH... | verify",
		Short:              "List, install and verify runtimes in the catalog",
		Long:               "The catalog ($BGJOB_RUNTIMES, default ~/.local/share/bgjob/runtimes) holds runtime plugins as <name>/<version>/<os>_<arch>/<binary>, each with the SHA-256 recorded at install. See 'bgjob runtime -help'.",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := hostBinary()
			if err != nil {
				return api.WithCode(api.ExitUnavailable, err)
			}
			return api.WithCode(api.ExitUnavailable, execHost(bin, append([]string{bin, "runtime"}, args...)))
		},
	}
}
