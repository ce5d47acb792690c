package server

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bgjob/bgjob/host/api"
	"github.com/mattn/go-runewidth"
)

// The job table (get) and the JSON of jobs: columns fitted to the
// caller's terminal, in the order the README states.

// columns are the job table's optional columns and its width.
type columns struct {
	// owner: root, on a system host, sees every user's jobs.
	owner bool
	// started: a listing of one type (get --type) shows when each run
	// started, as a scheduled job's history does.
	started bool
	// wide adds begin and end time, duration, exit code, runtime, group
	// and the state's reason, and cuts nothing.
	wide bool
	// width, if set, is the terminal's: the table is made to fit it (see
	// fitSteps).
	width int
}

// tableCol is a column of the job table: its heading and a cell per job.
type tableCol struct {
	head  string
	cells []string
	// plain, for the State column, are its cells without their notes.
	plain []string
	// natural is the widest of its heading and cells, in terminal cells
	// (see measure).
	natural int
	// limit is the most cells it may take (0: no limit); cells beyond are
	// cut with "...".
	limit   int
	dropped bool
}

// measure sets c.natural from its heading and cells, once they are set:
// a table of many jobs is measured once, not at each step of fitting it.
func (c *tableCol) measure() {
	c.natural = cellWidth(c.head)
	for _, s := range c.cells {
		c.natural = max(c.natural, cellWidth(s))
	}
}

// width is how many terminal cells the column takes.
func (c *tableCol) width() int {
	if c.limit > 0 {
		return min(c.natural, c.limit)
	}
	return c.natural
}

// fitSteps are what a job table gives up, one step after the other, until
// its rows fit the terminal: a column is cut down to a width (at most: no
// more than the rows need), or dropped (width 0). The Id, Name and State
// columns are never dropped; a row is never wrapped. The README lists
// these steps: keep them in step.
var fitSteps = []struct {
	col   string
	width int
}{
	{"Command", 20},
	{"HasMoreData", 0},
	{"PSJobTypeName", 0},
	{"Name", 16},
	{"Location", 0},
	{"Started", 0},
	{"Command", 10},
	{"Name", 8},
	{"Owner", 0},
	{"Command", 0},
	{stateNote, 0},
}

// stateNote names, in fitSteps, the notes in the State column
// ("NotStarted (after 3)").
const stateNote = "State's note"

// commandRoom is how much of a command a table shows when it has no
// terminal to fit: PowerShell's table cuts it at 60 characters too.
const commandRoom = 60

// writeJobTable writes jobs as PowerShell's job table, with the optional
// columns cols asks for. On a terminal (cols.width) it fits the width, as
// fitSteps says; -o wide (cols.wide) cuts nothing, however wide its rows.
func writeJobTable(w io.Writer, jobs []*api.Job, cols columns) error {
	var table []*tableCol
	add := func(head string, cell func(j *api.Job) string) *tableCol {
		c := &tableCol{head: head}
		for _, j := range jobs {
			c.cells = append(c.cells, cell(j))
		}
		c.measure()
		table = append(table, c)
		return c
	}
	add("Id", func(j *api.Job) string { return fmt.Sprint(j.ID) })
	add("Name", func(j *api.Job) string { return printable(j.Name) })
	add("PSJobTypeName", func(j *api.Job) string { return printable(j.PSJobTypeName) })
	state := add("State", func(j *api.Job) string {
		if j.StateNote == "" || cols.wide {
			return string(j.State)
		}
		return fmt.Sprintf("%s (%s)", j.State, printable(j.StateNote))
	})
	for _, j := range jobs {
		state.plain = append(state.plain, string(j.State))
	}
	add("HasMoreData", func(j *api.Job) string { return titleBool(j.HasMoreData) })
	add("Location", func(j *api.Job) string { return printable(j.Location) })
	if cols.owner {
		add("Owner", func(j *api.Job) string { return printable(j.Owner) })
	}
	if cols.started {
		add("Started", func(j *api.Job) string { return when(j.PSBeginTime) })
	}
	if cols.wide {
		add("PSBeginTime", func(j *api.Job) string { return when(j.PSBeginTime) })
		add("PSEndTime", func(j *api.Job) string { return when(j.PSEndTime) })
		add("Duration", duration)
		add("ExitCode", func(j *api.Job) string {
			if j.ExitCode == nil {
				return "-"
			}
			return fmt.Sprint(*j.ExitCode)
		})
		add("Runtime", func(j *api.Job) string {
			return printable(fmt.Sprintf("%s %s %s", j.Runtime.Name, j.Runtime.Version, j.Runtime.Arch))
		})
		add("Group", func(j *api.Job) string { return printable(j.GroupOf()) })
	}
	command := add("Command", func(j *api.Job) string {
		if cols.wide {
			// -o wide cuts nothing: every line, each newline shown
			// escaped (\n), as a name's is.
			return printable(strings.ReplaceAll(strings.TrimSpace(j.Command), "\t", " "))
		}
		return firstLine(j.Command)
	})
	if cols.wide {
		add("Reason", func(j *api.Job) string {
			if j.StateReason == "" {
				return "-"
			}
			return printable(j.StateReason)
		})
	}
	switch {
	case cols.wide:
	case cols.width > 0:
		fit(table, command, cols.width)
	default:
		command.limit = commandRoom
	}
	return writeTable(w, table)
}

// fit makes table fit in width cells, taking the steps of fitSteps until
// it does; its rows end a cell short of the edge, as PowerShell's do, so
// that no terminal wraps them. flex (Command, the last column) is cut to
// a step's width only as far as the others leave no room; if it remains,
// it takes all the room there is, else Name does. A table too wide even
// with every step taken is left so: below about 30 cells, Id, Name and
// State may not fit.
func fit(table []*tableCol, flex *tableCol, width int) {
	room := width - 1
	floor := flex.width() // the least flex may be cut to, as steps allow
	need := func() int {
		n := 0
		for _, c := range table {
			if c.dropped {
				continue
			}
			if n > 0 {
				n += 2
			}
			if c == flex {
				n += min(floor, c.width())
			} else {
				n += c.width()
			}
		}
		return n
	}
	for _, s := range fitSteps {
		excess := need() - room
		if excess <= 0 {
			break
		}
		var c *tableCol
		for _, t := range table {
			if t.head == s.col || s.col == stateNote && t.plain != nil {
				c = t
			}
		}
		switch {
		case c == nil || c.dropped:
		case s.col == stateNote:
			c.cells = c.plain
			c.measure()
		case s.width == 0:
			c.dropped = true
		case c == flex:
			floor = min(floor, s.width)
		default:
			c.limit = max(s.width, c.width()-excess)
		}
	}
	if flex.dropped {
		// The room Command leaves goes to Name, if it was cut.
		name := table[1]
		name.limit = max(name.width(), room-(need()-name.width()))
		return
	}
	others := need() - min(floor, flex.width())
	flex.limit = max(floor, room-others)
}

// writeTable writes the columns that are not dropped, two spaces apart,
// each cut to its limit; the last is not padded.
func writeTable(w io.Writer, table []*tableCol) error {
	var shown []*tableCol
	for _, c := range table {
		if !c.dropped {
			shown = append(shown, c)
		}
	}
	widths := make([]int, len(shown))
	for i, c := range shown {
		widths[i] = c.width()
	}
	var b strings.Builder
	row := func(cell func(c *tableCol) string) {
		for i, c := range shown {
			s := cut(cell(c), widths[i])
			b.WriteString(s)
			if i < len(shown)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-cellWidth(s)+2))
			}
		}
		b.WriteByte('\n')
	}
	row(func(c *tableCol) string { return c.head })
	row(func(c *tableCol) string { return strings.Repeat("-", cellWidth(c.head)) })
	for r := range shown[0].cells {
		row(func(c *tableCol) string { return c.cells[r] })
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dashes(head []string) []string {
	out := make([]string, len(head))
	for i, h := range head {
		out[i] = strings.Repeat("-", len(h))
	}
	return out
}

// duration is how long a job ran (so far, if it runs).
func duration(j *api.Job) string {
	if j.PSBeginTime == nil {
		return "-"
	}
	end := time.Now()
	if j.PSEndTime != nil {
		end = *j.PSEndTime
	}
	return end.Sub(*j.PSBeginTime).Round(time.Millisecond).String()
}

// writeAligned writes rows in columns two spaces apart. The last column
// is cut to fit width if one is given, and to 60 characters otherwise, as
// PowerShell's table does.
func writeAligned(w io.Writer, rows [][]string, width int) error {
	table := make([]*tableCol, len(rows[0]))
	for i := range table {
		table[i] = &tableCol{head: rows[0][i]}
		for _, r := range rows[2:] {
			table[i].cells = append(table[i].cells, r[i])
		}
		table[i].measure()
	}
	last := table[len(table)-1]
	last.limit = commandRoom
	if width > 0 {
		used := 0
		for _, c := range table[:len(table)-1] {
			used += c.width() + 2
		}
		last.limit = max(width-used-1, 10)
	}
	return writeTable(w, table)
}

// cells measures text as a terminal shows it: a wide character (CJK, most
// emoji) takes two cells, a combining one none. East Asian ambiguous
// characters count as one, whatever the host's own locale says: the
// host's locale is not the terminal's.
var cells = &runewidth.Condition{EastAsianWidth: false, StrictEmojiNeutral: true}

// cellWidth is how many terminal cells s takes.
func cellWidth(s string) int { return cells.StringWidth(s) }

// firstLine is a command's first line, its tabs as spaces, its control
// characters shown escaped.
func firstLine(c string) string {
	c = strings.TrimSpace(c)
	if i := strings.IndexByte(c, '\n'); i >= 0 {
		c = c[:i] + " ..."
	}
	return printable(strings.ReplaceAll(c, "\t", " "))
}

// cut shortens s to n cells (never inside a character), ending in "...".
func cut(s string, n int) string {
	if cellWidth(s) <= n {
		return s
	}
	if n <= 3 {
		return cells.Truncate(s, n, "")
	}
	return cells.Truncate(s, n, "...")
}

func titleBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// printable shows control characters escaped (\n, \x1b, ...) and invalid
// UTF-8 as such: a name holding a newline must not break the table's
// rows, and one holding terminal escapes must not drive the terminal.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsControl(r):
			if r < 0x100 {
				fmt.Fprintf(&b, "\\x%02x", r)
			} else {
				fmt.Fprintf(&b, "\\u%04x", r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// writeJobsJSON writes jobs as a JSON array, or a single job as an object.
func writeJobsJSON(w io.Writer, jobs []*api.Job, single bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if single && len(jobs) == 1 {
		return enc.Encode(jobs[0])
	}
	if jobs == nil {
		jobs = []*api.Job{}
	}
	return enc.Encode(jobs)
}
