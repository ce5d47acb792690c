package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/spf13/cobra"
)

// The runtime commands work on the catalog directly, without the host: it
// is a folder of files, and installing the bundled runtimes at build time
// should not need a daemon.
func newRuntime() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "List, install and verify runtimes in the catalog",
		Long:  "The catalog ($BGJOB_RUNTIMES, default ~/.local/share/bgjob/runtimes) holds runtime plugins as <name>/<version>/<os>_<arch>/<binary>, each with the SHA-256 recorded at install.",
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List installed runtimes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, api.FormatTable, api.FormatJSON); err != nil {
				return err
			}
			entries, err := catalog.Open(catalog.DefaultRoot()).List()
			if err != nil {
				return api.WithCode(api.ExitRuntime, err)
			}
			if output == api.FormatJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if entries == nil {
					entries = []*catalog.Entry{}
				}
				return enc.Encode(entries)
			}
			catalog.FormatTable(os.Stdout, entries)
			return nil
		},
	}
	list.Flags().StringVarP(&output, "output", "o", api.FormatTable, "table or json")
	install := &cobra.Command{
		Use:   "install PATH...",
		Short: "Check a runtime binary (PATH describe) and copy it into the catalog",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat := catalog.Open(catalog.DefaultRoot())
			for _, p := range args {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				e, err := cat.Install(ctx, p)
				cancel()
				if err != nil {
					return api.WithCode(api.ExitRuntime, err)
				}
				fmt.Printf("installed %s at %s\n", e, e.Path)
			}
			return nil
		},
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every installed runtime and report tampering",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			results, err := catalog.Open(catalog.DefaultRoot()).VerifyAll()
			if err != nil {
				return api.WithCode(api.ExitRuntime, err)
			}
			bad := 0
			for _, r := range results {
				if r.Err != nil {
					bad++
					fmt.Printf("FAILED  %v\n", r.Err)
				} else {
					fmt.Printf("ok      %s\n", r.Entry)
				}
			}
			if bad > 0 {
				return api.Errorf(api.ExitRuntime, "%d of %d runtimes failed verification", bad, len(results))
			}
			return nil
		},
	}
	cmd.AddCommand(list, install, verify)
	return cmd
}
