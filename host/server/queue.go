package server

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bgjob/bgjob/host/api"
)

// writeQueue writes `bgjob queue`: the groups, then the clean-up policy.
func writeQueue(w io.Writer, q *api.Queue, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(q)
	}
	head := []string{"Group", "MaxRunning", "Running", "Queued", "Suspended"}
	rows := [][]string{head, dashes(head)}
	for _, g := range q.Groups {
		rows = append(rows, []string{printable(g.Name), fmt.Sprint(g.MaxRunning), fmt.Sprint(g.Running), fmt.Sprint(g.Queued), fmt.Sprint(g.Suspended)})
	}
	if err := writeAligned(w, rows, 0); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "\nFinished jobs: %s\n", cleanupText(q)); err != nil || q.OnEnd == "" {
		return err
	}
	_, err := fmt.Fprintf(w, "When a job ends: %s\n", printable(q.OnEnd))
	return err
}

// writeEvent writes one event of `bgjob events`: a JSON object on a line of
// its own, or a line to read: seq, time, id, name, old -> new state, exit
// code and reason.
func writeEvent(w io.Writer, e *api.Event, jsonOut bool) error {
	if jsonOut {
		return json.NewEncoder(w).Encode(e)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %d %s %s -> %s", e.Seq, e.Time.Local().Format("2006-01-02T15:04:05.000"), e.JobID, printable(e.Name), e.From, e.To)
	if e.ExitCode != nil {
		fmt.Fprintf(&b, " exit %d", *e.ExitCode)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", printable(e.Reason))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func cleanupText(q *api.Queue) string {
	switch {
	case q.KeepFinished == 0 && (q.KeepFor == "" || q.KeepFor == "0"):
		return "all kept (bgjob queue --keep-finished N or --keep-for AGE removes old ones)"
	case q.KeepFinished == 0:
		return fmt.Sprintf("removed %s after they end", q.KeepFor)
	case q.KeepFor == "" || q.KeepFor == "0":
		return fmt.Sprintf("the newest %d of each user's kept, older ones removed", q.KeepFinished)
	}
	return fmt.Sprintf("the newest %d of each user's kept, and none longer than %s after they end", q.KeepFinished, q.KeepFor)
}

// writeLocations writes `bgjob location list`.
func writeLocations(w io.Writer, ls []api.Location, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(ls)
	}
	head := []string{"Name", "Kind", "Reachable", "Detail"}
	rows := [][]string{head, dashes(head)}
	for _, l := range ls {
		rows = append(rows, []string{l.Name, l.Kind, titleBool(l.Reachable), printable(l.Detail)})
	}
	// The detail is the point (why a location cannot be reached): whole.
	return writeAligned(w, rows, 1<<20)
}
