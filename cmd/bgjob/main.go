// Command bgjob is PowerShell's background jobs for any shell: start a
// script in a versioned runtime, list jobs, receive their streams, wait for,
// stop and remove them.
//
// The CLI is kept light on purpose: it links neither gRPC, go-plugin nor
// net/rpc (a test guards this), because their package initialisation would
// cost several milliseconds on every call. It talks to the host daemon,
// bgjobd, over a unix socket with small framed messages and starts it when
// none is running.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var silent *silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	fmt.Fprintf(os.Stderr, "bgjob: %v\n", err)
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code
	}
	// Errors cobra makes itself are about flags and arguments.
	return api.ExitUsage
}

// silentError carries an exit code whose message has been printed already.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCodesHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes:\n")
	for _, c := range api.ExitCodes {
		fmt.Fprintf(&b, "  %d  %s\n", c.Code, c.Text)
	}
	return b.String()
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "bgjob",
		Short: "Background jobs in isolated, versioned runtimes",
		Long: `bgjob runs scripts as background jobs, like PowerShell's Start-Job, each in
its own runtime process picked by name and semver constraint, and keeps the
jobs' seven streams (output, error, progress, verbose, debug, warning,
information) until you receive them.

A host daemon (bgjobd) keeps the job table under $BGJOB_HOME (default
~/.local/state/bgjob); any command starts it when it is not running.
Runtimes live in the catalog under $BGJOB_RUNTIMES.

JOB is an id, a name (wildcards * ? [...] allowed) or an instance id.

` + exitCodesHelp(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return api.WithCode(api.ExitUsage, fmt.Errorf("%w (see 'bgjob %s --help')", err, c.Name()))
	})
	root.PersistentFlags().BoolVar(&useSystem, "system", false, "use the system host ("+api.SystemSocket+"; or $BGJOB_SOCKET) instead of your own")
	root.AddCommand(newStart(), newGet(), newReceive(), newWait(), newStop(), newRemove(), newDefinition(), newHost(), newRuntime())
	return root
}
