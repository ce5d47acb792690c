package catalog

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// FormatTable writes entries as an aligned table in the style of
// PowerShell's Format-Table: a header, a line of dashes under each heading,
// then one row per entry, columns separated by a single space of padding.
// Nothing is written for no entries, so the caller can print its own
// "nothing installed" hint instead of an empty table. Write errors are
// ignored, as with fmt.Fprintf to a terminal.
func FormatTable(w io.Writer, entries []*Entry) {
	if len(entries) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "Name\tVersion\tOS/Arch\tProtocol\tJobTypes\tPath")
	fmt.Fprintln(tw, "----\t-------\t-------\t--------\t--------\t----")
	for _, e := range entries {
		if e.Refused != nil {
			// Shown, not left out, so that the user learns why the entry
			// does not run.
			fmt.Fprintf(tw, "%s\t%s\t%s/%s\t-\t-\trefused: %v\n", e.Name, e.Version, e.OS, e.Arch, e.Refused)
			continue
		}
		types := "-"
		if len(e.JobTypes) > 0 {
			types = strings.Join(e.TypeNames(), ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\n", e.Name, e.Version, e.OS, e.Arch, strings.ReplaceAll(intList(e.ServedProtocols()), " ", ""), types, e.Path)
	}
	tw.Flush()
}
