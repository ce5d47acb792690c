package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
)

// textSink renders records the way a terminal user reads them: Output and
// Information to stdout, Error to stderr, Warning, Verbose and Debug to
// stderr with PowerShell's prefixes (the last two only when asked for).
// Progress is not shown as text. Text a job printed is passed through byte
// for byte.
type textSink struct {
	out, err       io.Writer
	verbose, debug bool
	flush          func() error
}

// Record writes one record.
func (s *textSink) Record(_ uint64, r *sdk.Record) error {
	var w io.Writer
	prefix := ""
	switch r.Stream {
	case sdk.Output, sdk.Information:
		w = s.out
	case sdk.Error:
		w = s.err
	case sdk.Warning:
		w, prefix = s.err, "WARNING: "
	case sdk.Verbose:
		if !s.verbose {
			return nil
		}
		w, prefix = s.err, "VERBOSE: "
	case sdk.Debug:
		if !s.debug {
			return nil
		}
		w, prefix = s.err, "DEBUG: "
	default:
		return nil
	}
	if r.Chunk != nil && prefix == "" {
		_, err := w.Write(r.Chunk)
		return err
	}
	text := r.Message
	if r.Chunk != nil {
		text = strings.TrimSuffix(string(r.Chunk), "\n")
	}
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		b.WriteString(prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Flush passes on to flush.
func (s *textSink) Flush() error {
	if s.flush == nil {
		return nil
	}
	return s.flush()
}

// jsonSink writes one JSON object per record and line:
// {"jobId","seq","stream","time", ...the stream's fields}.
type jsonSink struct {
	out   io.Writer
	flush func() error
	buf   bytes.Buffer
}

// jsonRecord is a record as JSON; which fields are set depends on the stream.
type jsonRecord struct {
	JobID  uint64 `json:"jobId"`
	Seq    uint64 `json:"seq"`
	Stream string `json:"stream"`
	Time   string `json:"time"`

	Value    *string `json:"value,omitempty"`
	TypeName string  `json:"typeName,omitempty"`
	Message  *string `json:"message,omitempty"`

	Category          string `json:"category,omitempty"`
	Target            string `json:"target,omitempty"`
	ErrorID           string `json:"errorId,omitempty"`
	RecommendedAction string `json:"recommendedAction,omitempty"`

	ActivityID       *int32 `json:"activityId,omitempty"`
	ParentID         *int32 `json:"parentId,omitempty"`
	Activity         string `json:"activity,omitempty"`
	Status           string `json:"status,omitempty"`
	CurrentOperation string `json:"currentOperation,omitempty"`
	PercentComplete  *int32 `json:"percentComplete,omitempty"`
	SecondsRemaining *int32 `json:"secondsRemaining,omitempty"`
	Completed        *bool  `json:"completed,omitempty"`

	MessageData   *string  `json:"messageData,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	Source        string   `json:"source,omitempty"`
	TimeGenerated string   `json:"timeGenerated,omitempty"`
	User          string   `json:"user,omitempty"`
	Computer      string   `json:"computer,omitempty"`
	Pid           int32    `json:"pid,omitempty"`
}

func stamp(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// Record writes r, a line per record it stands for.
func (s *jsonSink) Record(jobID uint64, r *sdk.Record) error {
	s.buf.Reset()
	enc := json.NewEncoder(&s.buf)
	enc.SetEscapeHTML(false)
	base := jsonRecord{JobID: jobID, Seq: r.Seq, Stream: sdk.StreamNames[r.Stream], Time: stamp(r.TimeUnixNano)}
	if r.Chunk != nil {
		text := strings.TrimSuffix(string(r.Chunk), "\n")
		for i, line := range strings.Split(text, "\n") {
			j := base
			j.Seq = r.Seq + uint64(i)
			fillText(&j, r.Stream, line)
			if r.Stream == sdk.Error {
				j.Category, j.ErrorID = "NotSpecified", "NativeCommandError"
			}
			if err := enc.Encode(&j); err != nil {
				return err
			}
		}
	} else {
		j := base
		fillText(&j, r.Stream, r.Message)
		j.TypeName = r.TypeName
		if e := r.Error; e != nil {
			j.Category, j.Target, j.ErrorID, j.RecommendedAction = e.Category, e.Target, e.ErrorId, e.RecommendedAction
		}
		if p := r.Progress; p != nil {
			j.ActivityID, j.ParentID, j.PercentComplete, j.SecondsRemaining = &p.ActivityId, &p.ParentId, &p.Percent, &p.SecondsRemaining
			j.Activity, j.Status, j.CurrentOperation, j.Completed = p.Activity, p.Status, p.CurrentOperation, &p.Completed
		}
		if in := r.Information; in != nil {
			j.Tags, j.Source, j.User, j.Computer, j.Pid = in.Tags, in.Source, in.User, in.Computer, in.Pid
			if in.TimeUnixNano != 0 {
				j.TimeGenerated = stamp(in.TimeUnixNano)
			}
		}
		if err := enc.Encode(&j); err != nil {
			return err
		}
	}
	_, err := s.out.Write(s.buf.Bytes())
	return err
}

func fillText(j *jsonRecord, s sdk.Stream, text string) {
	switch s {
	case sdk.Output:
		j.Value = &text
	case sdk.Information:
		j.MessageData = &text
	case sdk.Progress:
	default:
		j.Message = &text
	}
}

// Flush passes on to flush.
func (s *jsonSink) Flush() error {
	if s.flush == nil {
		return nil
	}
	return s.flush()
}

// columns are the job table's optional columns.
type columns struct {
	// owner: root, on a system host, sees every user's jobs.
	owner bool
	// started: a listing of one type (get --type) shows when each run
	// started, as a scheduled job's history does.
	started bool
}

// writeJobTable writes jobs as PowerShell's job table, with the optional
// columns cols asks for before Command.
func writeJobTable(w io.Writer, jobs []*api.Job, cols columns) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	extra, dashes := "", ""
	if cols.owner {
		extra, dashes = extra+"Owner\t", dashes+"-----\t"
	}
	if cols.started {
		extra, dashes = extra+"Started\t", dashes+"-------\t"
	}
	fmt.Fprintln(tw, "Id\tName\tPSJobTypeName\tState\tHasMoreData\tLocation\t"+extra+"Command")
	fmt.Fprintln(tw, "--\t----\t-------------\t-----\t-----------\t--------\t"+dashes+"-------")
	for _, j := range jobs {
		extra = ""
		if cols.owner {
			extra += printable(j.Owner) + "\t"
		}
		if cols.started {
			started := "-"
			if j.PSBeginTime != nil {
				started = j.PSBeginTime.Local().Format("2006-01-02 15:04:05")
			}
			extra += started + "\t"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s%s\n", j.ID, printable(j.Name), printable(j.PSJobTypeName), j.State,
			titleBool(j.HasMoreData), printable(j.Location), extra, shortCommand(j.Command))
	}
	return tw.Flush()
}

func titleBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// shortCommand is the first line of a command, cut to fit a table (on a
// character boundary), with its control characters shown escaped.
func shortCommand(c string) string {
	c = strings.TrimSpace(c)
	if i := strings.IndexByte(c, '\n'); i >= 0 {
		c = c[:i] + " ..."
	}
	c = strings.ReplaceAll(c, "\t", " ")
	if r := []rune(c); len(r) > 60 {
		c = string(r[:57]) + "..."
	}
	return printable(c)
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
