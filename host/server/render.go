package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

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
	// color paints the streams for a terminal.
	color bool
	// label, if set, is put before each line: the job it comes from.
	label func(jobID uint64) string
	// progress, if set, takes progress records (to draw them as bars).
	progress func(jobID uint64, p *sdk.ProgressDetail) error
	// failed lists the received jobs that ended Failed.
	failed []*api.Job
}

// ANSI colours for the streams on a terminal.
const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// Record writes one record.
func (s *textSink) Record(jobID uint64, r *sdk.Record) error {
	var w io.Writer
	prefix, color := "", ""
	switch r.Stream {
	case sdk.Output, sdk.Information:
		w = s.out
	case sdk.Error:
		w, color = s.err, ansiRed
	case sdk.Warning:
		w, prefix, color = s.err, "WARNING: ", ansiYellow
	case sdk.Verbose:
		if !s.verbose {
			return nil
		}
		w, prefix, color = s.err, "VERBOSE: ", ansiDim
	case sdk.Debug:
		if !s.debug {
			return nil
		}
		w, prefix, color = s.err, "DEBUG: ", ansiDim
	case sdk.Progress:
		if s.progress != nil && r.Progress != nil {
			return s.progress(jobID, r.Progress)
		}
		return nil
	default:
		return nil
	}
	if !s.color {
		color = ""
	}
	if s.label != nil {
		prefix = s.label(jobID) + prefix
	}
	if r.Chunk != nil && prefix == "" && color == "" {
		_, err := w.Write(r.Chunk)
		return err
	}
	text := r.Message
	if r.Chunk != nil {
		text = strings.TrimSuffix(string(r.Chunk), "\n")
	}
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		b.WriteString(color)
		b.WriteString(prefix)
		b.WriteString(line)
		if color != "" {
			b.WriteString(ansiReset)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// End says, on stderr, that a job failed and why, as Receive-Job ends a
// failed job's output with its reason.
func (s *textSink) End(j *api.Job) error {
	if j.State != api.Failed {
		return nil
	}
	s.failed = append(s.failed, j)
	msg := failureText(j)
	if s.color {
		msg = ansiRed + msg + ansiReset
	}
	_, err := io.WriteString(s.err, msg+"\n")
	return err
}

// failureText is how a failed job is reported.
func failureText(j *api.Job) string {
	reason := j.StateReason
	if reason == "" {
		reason = "no reason was given"
	}
	return fmt.Sprintf("bgjob: job %d (%s) failed: %s", j.ID, printable(j.Name), reason)
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
	out    io.Writer
	flush  func() error
	buf    bytes.Buffer
	failed []*api.Job
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
		lines := []string{text}
		if r.Count > 1 {
			// A line a record, numbered on: the chunk takes Count
			// numbers. One that takes one (an older protocol-1
			// runtime's message, its newlines and all) stays one.
			lines = strings.Split(text, "\n")
		}
		for i, line := range lines {
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

// jsonEnd is the line that ends a failed job's records in JSON.
type jsonEnd struct {
	JobID    uint64    `json:"jobId"`
	State    api.State `json:"state"`
	Reason   string    `json:"reason"`
	ExitCode *int      `json:"exitCode"`
}

// End adds a line for a failed job, after its records.
func (s *jsonSink) End(j *api.Job) error {
	if j.State != api.Failed {
		return nil
	}
	s.failed = append(s.failed, j)
	b, err := json.Marshal(jsonEnd{JobID: j.ID, State: j.State, Reason: j.StateReason, ExitCode: j.ExitCode})
	if err != nil {
		return err
	}
	_, err = s.out.Write(append(b, '\n'))
	return err
}

// Flush passes on to flush.
func (s *jsonSink) Flush() error {
	if s.flush == nil {
		return nil
	}
	return s.flush()
}
