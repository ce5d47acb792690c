package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
)

const runtimeUsage = `usage: bgjob runtime list [-o table|json]
       bgjob runtime install PATH...
       bgjob runtime verify

The catalog ($BGJOB_RUNTIMES, default ~/.local/share/bgjob/runtimes) holds
runtime plugins as <name>/<version>/<os>_<arch>/<binary>. install runs
'PATH describe', checks the answer, copies the binary in and records its
SHA-256; verify re-hashes every binary and reports tampering.
`

// runtimeCmd runs `bgjobd runtime ...`, which `bgjob runtime ...` execs.
func runtimeCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, runtimeUsage)
		if len(args) == 0 {
			return api.ExitUsage
		}
		return 0
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "bgjob: %v\n", err)
		return code
	}
	cat := catalog.Open(catalog.DefaultRoot())
	fs := flag.NewFlagSet("runtime "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runtimeUsage) }
	output := fs.String("o", api.FormatTable, "table or json")
	fs.StringVar(output, "output", api.FormatTable, "table or json")
	if err := fs.Parse(args[1:]); err != nil {
		return api.ExitUsage
	}
	switch args[0] {
	case "list":
		if fs.NArg() > 0 {
			return fail(api.ExitUsage, fmt.Errorf("runtime list takes no arguments"))
		}
		entries, err := cat.List()
		if err != nil {
			return fail(api.ExitRuntime, err)
		}
		switch *output {
		case api.FormatJSON:
			if entries == nil {
				entries = []*catalog.Entry{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(entries); err != nil {
				return fail(api.ExitUnavailable, err)
			}
		case api.FormatTable:
			catalog.FormatTable(stdout, entries)
		default:
			return fail(api.ExitUsage, fmt.Errorf("unknown output format %q; use table or json", *output))
		}
	case "install":
		if fs.NArg() == 0 {
			return fail(api.ExitUsage, fmt.Errorf("runtime install needs the PATH of a runtime binary"))
		}
		for _, p := range fs.Args() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			e, err := cat.Install(ctx, p)
			cancel()
			if err != nil {
				return fail(api.ExitRuntime, err)
			}
			fmt.Fprintf(stdout, "installed %s at %s\n", e, e.Path)
		}
	case "verify":
		results, err := cat.VerifyAll()
		if err != nil {
			return fail(api.ExitRuntime, err)
		}
		bad := 0
		for _, r := range results {
			if r.Err != nil {
				bad++
				fmt.Fprintf(stdout, "FAILED  %v\n", r.Err)
			} else {
				fmt.Fprintf(stdout, "ok      %s\n", r.Entry)
			}
		}
		if bad > 0 {
			return fail(api.ExitRuntime, fmt.Errorf("%d of %d runtimes failed verification", bad, len(results)))
		}
	default:
		fmt.Fprint(stderr, runtimeUsage)
		return fail(api.ExitUsage, fmt.Errorf("unknown runtime command %q", args[0]))
	}
	return 0
}
