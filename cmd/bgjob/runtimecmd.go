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
		Use:   "runtime list [-o json] | install [--force] PATH... | remove NAME VERSION [--arch ARCH] | verify",
		Short: "List, install, remove and verify runtimes in the catalog",
		Long: `The catalog ($BGJOB_RUNTIMES, default ~/.local/share/bgjob/runtimes) holds
runtime and job type plugins as <name>/<version>/<os>_<arch>/<binary>, each
with the SHA-256 recorded at install. No host is needed.

  list [-o json]        what is installed: name, version, platform,
                        protocols, job types, path
  install PATH...       ask each binary to describe itself, copy it in and
                        record its hash; a different binary for an
                        installed name, version and platform is refused
                        unless --force replaces it
  remove NAME VERSION   remove every build of that version, or with
                        --arch ARCH (or OS/ARCH) only that one; jobs
                        already running in it go on
  verify                hash every binary again and report any that changed

See 'bgjob runtime --help' for the details.`,
		Example: `  bgjob runtime list
  bgjob runtime install bin/plugins/linux_amd64/2.0.0/bgjob-shell
  bgjob runtime remove shell 1.5.0 --arch 386
  bgjob runtime verify`,
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
