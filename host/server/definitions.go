package server

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// writeDefinitions renders a definition answer: a table for list, reload,
// enable and disable, every field for show, or the answer as JSON. What
// could not be read goes to stderr as warnings, after the table, so a
// broken file is never silent.
func writeDefinitions(out, errOut io.Writer, d *api.Definitions, action string, jsonOut bool) error {
	if d.Definitions == nil {
		d.Definitions = []api.Definition{}
	}
	if d.Problems == nil {
		d.Problems = []string{}
	}
	if jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if action == api.DefinitionShow && len(d.Definitions) == 1 {
			return enc.Encode(d.Definitions[0])
		}
		return enc.Encode(d)
	}
	var err error
	if action == api.DefinitionShow && len(d.Definitions) == 1 {
		err = writeDefinition(out, &d.Definitions[0])
	} else if len(d.Definitions) > 0 {
		err = writeDefinitionTable(out, d.Definitions)
	} else if len(d.Problems) == 0 {
		_, err = fmt.Fprintf(out, "no definitions in %s\n", d.Dir)
	}
	for _, p := range d.Problems {
		fmt.Fprintf(errOut, "WARNING: %s\n", printable(p))
	}
	return err
}

func writeDefinitionTable(w io.Writer, defs []api.Definition) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Name\tType\tEnabled\tTriggers\tNext\tLastRun\tKeep\tSource")
	fmt.Fprintln(tw, "----\t----\t-------\t--------\t----\t-------\t----\t------")
	for _, d := range defs {
		triggers := "-"
		if len(d.Triggers) > 0 {
			triggers = strings.Join(d.Triggers, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(d.Name), printable(d.Type), titleBool(d.Enabled),
			printable(triggers), when(d.Next), when(d.LastRun), keepText(d.Keep), printable(d.Source))
	}
	return tw.Flush()
}

func writeDefinition(w io.Writer, d *api.Definition) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t: %s\n", k, v) }
	row("Name", printable(d.Name))
	row("Type", printable(d.Type))
	row("Source", printable(d.Source))
	row("Enabled", titleBool(d.Enabled))
	row("Triggers", printable(strings.Join(d.Triggers, "; ")))
	row("Next", when(d.Next))
	row("LastRun", when(d.LastRun))
	if d.LastError != "" {
		row("LastError", printable(d.LastError))
	}
	row("Keep", keepText(d.Keep))
	row("CatchUp", titleBool(d.CatchUp))
	if d.Runtime != "" {
		rt := d.Runtime
		if d.RuntimeVersion != "" {
			rt += " " + d.RuntimeVersion
		}
		if d.RunAs32 {
			rt += " (32-bit)"
		}
		row("Runtime", printable(rt))
	}
	if d.Workdir != "" {
		row("Workdir", printable(d.Workdir))
	}
	row("Command", printable(d.Command))
	if len(d.Args) > 0 {
		row("Args", printable(strings.Join(d.Args, " ")))
	}
	for _, kv := range d.Env {
		row("Env", printable(kv))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d.Script != "" {
		fmt.Fprintf(w, "Script:\n%s\n", strings.TrimRight(d.Script, "\n"))
	}
	return nil
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func keepText(n int) string {
	if n == 0 {
		return "all"
	}
	return fmt.Sprint(n)
}
