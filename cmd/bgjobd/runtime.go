package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
)

const runtimeUsage = `usage: bgjob runtime list [-o table|json]
       bgjob runtime install [--force] PATH...
       bgjob runtime remove NAME VERSION [--arch ARCH]
       bgjob runtime verify

The catalog ($BGJOB_RUNTIMES, default ~/.local/share/bgjob/runtimes) holds
runtime plugins as <name>/<version>/<os>_<arch>/<binary>. install runs
'PATH describe', checks the answer, copies the binary in and records its
SHA-256; a different binary for an installed name, version and platform is
refused unless --force replaces it (saying the old and new SHA-256); remove deletes every build of that version (or, with --arch, the
one for that architecture, ARCH or OS/ARCH); verify re-hashes every binary
and reports tampering. Jobs already running in a removed runtime go on.

examples:
  bgjob runtime install bin/plugins/linux_amd64/2.0.0/bgjob-shell
  bgjob runtime list -o json
  bgjob runtime remove shell 1.5.0 --arch 386
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
	arch := fs.String("arch", "", "remove: only the build for this architecture (ARCH or OS/ARCH)")
	force := fs.Bool("force", false, "install: replace a different binary installed for the same name, version and platform")
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return api.ExitUsage
	}
	if *arch != "" && args[0] != "remove" {
		return fail(api.ExitUsage, fmt.Errorf("--arch goes with runtime remove"))
	}
	if *force && args[0] != "install" {
		return fail(api.ExitUsage, fmt.Errorf("--force goes with runtime install"))
	}
	switch args[0] {
	case "list":
		if len(pos) > 0 {
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
			if len(entries) == 0 {
				fmt.Fprintf(stderr, "no runtimes installed in %s; install one with 'bgjob runtime install PATH'\n", cat.Root())
				return 0
			}
			catalog.FormatTable(stdout, entries)
		default:
			return fail(api.ExitUsage, fmt.Errorf("unknown output format %q; use table or json", *output))
		}
	case "install":
		if len(pos) == 0 {
			return fail(api.ExitUsage, fmt.Errorf("runtime install needs the PATH of a runtime binary"))
		}
		for _, p := range pos {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			e, err := cat.Install(ctx, p, catalog.InstallOptions{Replace: *force})
			cancel()
			if err != nil {
				return fail(api.ExitRuntime, err)
			}
			switch {
			case e.Replaced != "":
				fmt.Fprintf(stdout, "replaced %s at %s: SHA-256 %s, was %s\n", e.Entry, e.Path, e.SHA256, e.Replaced)
			case e.Again:
				fmt.Fprintf(stdout, "installed %s at %s again (the same binary)\n", e.Entry, e.Path)
			default:
				fmt.Fprintf(stdout, "installed %s at %s\n", e.Entry, e.Path)
			}
		}
	case "remove":
		if len(pos) != 2 {
			return fail(api.ExitUsage, fmt.Errorf("usage: bgjob runtime remove NAME VERSION [--arch ARCH]; 'bgjob runtime list' shows what is installed"))
		}
		goos, goarch := "", *arch
		if o, a, ok := strings.Cut(*arch, "/"); ok {
			goos, goarch = o, a
		}
		removed, err := cat.Remove(pos[0], pos[1], goos, goarch)
		for _, e := range removed {
			fmt.Fprintf(stdout, "removed %s\n", e)
		}
		if err != nil {
			return fail(api.ExitRuntime, err)
		}
	case "verify":
		if len(pos) > 0 {
			return fail(api.ExitUsage, fmt.Errorf("runtime verify takes no arguments"))
		}
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

// parseInterspersed parses fs's flags wherever they are among args (the
// flag package stops at the first argument that is not one) and returns
// the other arguments in order. Everything after "--" is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}
