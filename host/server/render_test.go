//go:build unix

package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
)

func msg(seq uint64, s sdk.Stream, text string) *sdk.Record {
	return &sdk.Record{Seq: seq, TimeUnixNano: int64(seq), Stream: s, Message: text}
}

func chunk(seq uint64, s sdk.Stream, text string) *sdk.Record {
	n := uint32(strings.Count(text, "\n"))
	if text != "" && !strings.HasSuffix(text, "\n") {
		n++
	}
	return &sdk.Record{Seq: seq, TimeUnixNano: 1_700_000_000_000_000_000 + int64(seq), Stream: s, Chunk: []byte(text), Count: n}
}

func TestTextSink(t *testing.T) {
	recs := []*sdk.Record{
		msg(1, sdk.Output, "out"),
		chunk(2, sdk.Output, "raw1\nraw2\n"),
		chunk(4, sdk.Output, "partial"), // passed on byte for byte
		msg(5, sdk.Information, "info"),
		msg(6, sdk.Error, "err msg"),
		chunk(7, sdk.Error, "stderr line\n"),
		msg(8, sdk.Warning, "warn1\nwarn2"),
		chunk(9, sdk.Warning, "cw1\ncw2\n"),
		msg(11, sdk.Verbose, "verb"),
		msg(12, sdk.Debug, "dbg"),
		{Seq: 13, Stream: sdk.Progress, Progress: &sdk.ProgressDetail{Activity: "act", Percent: 10}},
		msg(14, sdk.Output, ""),
	}
	tests := []struct {
		verbose, debug bool
		stderr         string
	}{
		{false, false, "err msg\nstderr line\nWARNING: warn1\nWARNING: warn2\nWARNING: cw1\nWARNING: cw2\n"},
		{true, false, "err msg\nstderr line\nWARNING: warn1\nWARNING: warn2\nWARNING: cw1\nWARNING: cw2\nVERBOSE: verb\n"},
		{false, true, "err msg\nstderr line\nWARNING: warn1\nWARNING: warn2\nWARNING: cw1\nWARNING: cw2\nDEBUG: dbg\n"},
		{true, true, "err msg\nstderr line\nWARNING: warn1\nWARNING: warn2\nWARNING: cw1\nWARNING: cw2\nVERBOSE: verb\nDEBUG: dbg\n"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		flushed := 0
		s := &textSink{out: &out, err: &errOut, verbose: tt.verbose, debug: tt.debug, flush: func() error { flushed++; return nil }}
		for _, r := range recs {
			if err := s.Record(1, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(); err != nil || flushed != 1 {
			t.Errorf("Flush: %v, flush called %d times", err, flushed)
		}
		if want := "out\nraw1\nraw2\npartialinfo\n\n"; out.String() != want {
			t.Errorf("verbose %v debug %v: stdout %q, want %q", tt.verbose, tt.debug, out.String(), want)
		}
		if errOut.String() != tt.stderr {
			t.Errorf("verbose %v debug %v: stderr %q, want %q", tt.verbose, tt.debug, errOut.String(), tt.stderr)
		}
	}
	// Without a flush func, Flush does nothing.
	if err := (&textSink{}).Flush(); err != nil {
		t.Error(err)
	}
}

func TestJSONSink(t *testing.T) {
	ts := int64(1_700_000_000_123_456_789)
	stamp := time.Unix(0, ts).UTC().Format(time.RFC3339Nano)
	recs := []*sdk.Record{
		{Seq: 10, TimeUnixNano: ts, Stream: sdk.Output, Chunk: []byte("a\nb\n<c&d>\n"), Count: 3},
		{Seq: 13, TimeUnixNano: ts, Stream: sdk.Error, Chunk: []byte("oops\n"), Count: 1},
		{Seq: 14, TimeUnixNano: ts, Stream: sdk.Information, Chunk: []byte("i1\ni2\n"), Count: 2},
		{Seq: 16, TimeUnixNano: ts, Stream: sdk.Warning, Chunk: []byte("w\n"), Count: 1},
		{Seq: 17, TimeUnixNano: ts, Stream: sdk.Output, Message: "42", TypeName: "System.Int32"},
		{Seq: 18, TimeUnixNano: ts, Stream: sdk.Error, Message: "bad", Error: &sdk.ErrorDetail{Category: "InvalidData", Target: "f", ErrorId: "E42", RecommendedAction: "fix"}},
		{Seq: 19, TimeUnixNano: ts, Stream: sdk.Warning, Message: "careful"},
		{Seq: 20, TimeUnixNano: ts, Stream: sdk.Verbose, Message: "v"},
		{Seq: 21, TimeUnixNano: ts, Stream: sdk.Debug, Message: "d"},
		{Seq: 22, TimeUnixNano: ts, Stream: sdk.Progress, Progress: &sdk.ProgressDetail{ActivityId: 2, ParentId: -1, Activity: "act", Percent: 0, SecondsRemaining: -1}},
		{Seq: 23, TimeUnixNano: ts, Stream: sdk.Information, Message: "info", Information: &sdk.InformationDetail{Tags: []string{"x"}, Source: "src", TimeUnixNano: ts, User: "u", Computer: "c", Pid: 7}},
		{Seq: 24, TimeUnixNano: ts, Stream: sdk.Output, Message: ""},
	}
	want := []string{
		`{"jobId":5,"seq":10,"stream":"output","time":"T","value":"a"}`,
		`{"jobId":5,"seq":11,"stream":"output","time":"T","value":"b"}`,
		`{"jobId":5,"seq":12,"stream":"output","time":"T","value":"<c&d>"}`,
		`{"jobId":5,"seq":13,"stream":"error","time":"T","message":"oops","category":"NotSpecified","errorId":"NativeCommandError"}`,
		`{"jobId":5,"seq":14,"stream":"information","time":"T","messageData":"i1"}`,
		`{"jobId":5,"seq":15,"stream":"information","time":"T","messageData":"i2"}`,
		`{"jobId":5,"seq":16,"stream":"warning","time":"T","message":"w"}`,
		`{"jobId":5,"seq":17,"stream":"output","time":"T","value":"42","typeName":"System.Int32"}`,
		`{"jobId":5,"seq":18,"stream":"error","time":"T","message":"bad","category":"InvalidData","target":"f","errorId":"E42","recommendedAction":"fix"}`,
		`{"jobId":5,"seq":19,"stream":"warning","time":"T","message":"careful"}`,
		`{"jobId":5,"seq":20,"stream":"verbose","time":"T","message":"v"}`,
		`{"jobId":5,"seq":21,"stream":"debug","time":"T","message":"d"}`,
		`{"jobId":5,"seq":22,"stream":"progress","time":"T","activityId":2,"parentId":-1,"activity":"act","percentComplete":0,"secondsRemaining":-1,"completed":false}`,
		`{"jobId":5,"seq":23,"stream":"information","time":"T","messageData":"info","tags":["x"],"source":"src","timeGenerated":"T","user":"u","computer":"c","pid":7}`,
		`{"jobId":5,"seq":24,"stream":"output","time":"T","value":""}`,
	}
	var out bytes.Buffer
	s := &jsonSink{out: &out}
	for _, r := range recs {
		if err := s.Record(5, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Error(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d JSON lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i := range want {
		w := strings.ReplaceAll(want[i], `"T"`, `"`+stamp+`"`)
		if got[i] != w {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], w)
		}
		if !json.Valid([]byte(got[i])) {
			t.Errorf("line %d is not JSON", i)
		}
	}
	// Every line a chunk stands for is one line of JSON: as many as Count.
	out.Reset()
	r := &sdk.Record{Seq: 1, Stream: sdk.Output, Chunk: []byte("x\n\ny\n"), Count: 3}
	if err := s.Record(1, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("a chunk of 3 lines (one empty) became %d JSON lines:\n%s", n, out.String())
	}
	// One that takes one number (an older protocol-1 runtime's message
	// with newlines) is one line of JSON: its lines numbered on took the
	// numbers of the records after it.
	out.Reset()
	r = &sdk.Record{Seq: 2, Stream: sdk.Output, Chunk: []byte("a\nb\n"), Count: 1}
	if err := s.Record(1, r); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != `{"jobId":1,"seq":2,"stream":"output","time":"1970-01-01T00:00:00Z","value":"a\nb"}`+"\n" {
		t.Errorf("a chunk of one number, two lines: %s", got)
	}
}

func TestJobTable(t *testing.T) {
	var buf bytes.Buffer
	if err := writeJobTable(&buf, nil, columns{}); err != nil {
		t.Fatal(err)
	}
	header := "Id  Name  PSJobTypeName  State  HasMoreData  Location  Command\n" +
		"--  ----  -------------  -----  -----------  --------  -------\n"
	if buf.String() != header {
		t.Errorf("empty table:\n%q\nwant\n%q", buf.String(), header)
	}
	long := strings.Repeat("x", 70)
	jobs := []*api.Job{
		{ID: 1, Name: "Job1", PSJobTypeName: "BackgroundJob", State: api.Completed, HasMoreData: true, Location: "localhost", Command: "echo hi"},
		{ID: 12, Name: "build", PSJobTypeName: "BackgroundJob", State: api.Running, Location: "localhost", Command: "  make\nmake install"},
		{ID: 3, Name: "L", PSJobTypeName: "T", State: api.Failed, Location: "localhost", Command: long},
		{ID: 4, Name: "tab", PSJobTypeName: "T", State: api.NotStarted, Location: "localhost", Command: "a\tb"},
	}
	buf.Reset()
	if err := writeJobTable(&buf, jobs, columns{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("table:\n%s", buf.String())
	}
	if !strings.HasPrefix(lines[0], "Id  Name   PSJobTypeName  State       HasMoreData  Location   Command") {
		t.Errorf("header %q", lines[0])
	}
	fields := func(s string) []string { return strings.Fields(s) }
	checks := []struct {
		line int
		want []string
	}{
		{2, []string{"1", "Job1", "BackgroundJob", "Completed", "True", "localhost", "echo", "hi"}},
		{3, []string{"12", "build", "BackgroundJob", "Running", "False", "localhost", "make", "..."}},
		{4, []string{"3", "L", "T", "Failed", "False", "localhost", strings.Repeat("x", 57) + "..."}},
		{5, []string{"4", "tab", "T", "NotStarted", "False", "localhost", "a", "b"}},
	}
	for _, c := range checks {
		if got := fields(lines[c.line]); !equalStrings(got, c.want) {
			t.Errorf("row %d: %q, want %q", c.line, got, c.want)
		}
	}
	// Columns line up: every row's State starts where the header's does.
	col := strings.Index(lines[0], "State")
	for _, l := range lines[2:] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q is not aligned with the header", l)
		}
	}
}

func TestJobsJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := writeJobsJSON(&buf, nil, false); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("no jobs: %q, want []", buf.String())
	}
	j := &api.Job{ID: 7, Name: "n", State: api.Running, ChildJobs: []uint64{}}
	buf.Reset()
	if err := writeJobsJSON(&buf, []*api.Job{j}, true); err != nil {
		t.Fatal(err)
	}
	var one api.Job
	if err := json.Unmarshal(buf.Bytes(), &one); err != nil || one.ID != 7 || one.State != api.Running {
		t.Errorf("single job: %v, %+v\n%s", err, one, buf.String())
	}
	buf.Reset()
	if err := writeJobsJSON(&buf, []*api.Job{j}, false); err != nil {
		t.Fatal(err)
	}
	var list []api.Job
	if err := json.Unmarshal(buf.Bytes(), &list); err != nil || len(list) != 1 {
		t.Errorf("list: %v, %+v", err, list)
	}
	if !strings.Contains(buf.String(), `"Id": 7`) || !strings.Contains(buf.String(), `"HasMoreData": false`) {
		t.Errorf("JSON names:\n%s", buf.String())
	}
}

// A name with a newline or terminal escapes stays on its row, escaped, and
// a long command is cut between characters.
func TestJobTableEscapes(t *testing.T) {
	long := strings.Repeat("é", 70)
	jobs := []*api.Job{
		{ID: 1, Name: "two\nlines", PSJobTypeName: "BackgroundJob", State: api.Completed, Location: "localhost", Command: "echo"},
		{ID: 2, Name: "red\x1b[31m", PSJobTypeName: "BackgroundJob", State: api.Completed, Location: "localhost", Command: long},
		{ID: 3, Name: "ünï😀", PSJobTypeName: "BackgroundJob", State: api.Completed, Location: "localhost", Command: "bad\xffbyte"},
	}
	var buf bytes.Buffer
	if err := writeJobTable(&buf, jobs, columns{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 2 headings and 3 rows:\n%s", len(lines), out)
	}
	for _, want := range []string{`two\nlines`, `red\x1b[31m`, "ünï😀", strings.Repeat("é", 57) + "...", `bad\xffbyte`} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b") || !utf8.ValidString(out) {
		t.Errorf("the table holds raw control characters or broken UTF-8:\n%q", out)
	}
}

// On a terminal the table fits its width: the Command column is cut, on a
// character boundary, with "..."; -o wide adds the times, duration, exit
// code and runtime.
func TestJobTableWidthAndWide(t *testing.T) {
	begin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	end := begin.Add(1500 * time.Millisecond)
	code := 0
	jobs := []*api.Job{{ID: 1, Name: "Ünïcode", PSJobTypeName: "BackgroundJob", State: api.Completed, Location: "localhost",
		Command: "echo " + strings.Repeat("ü", 100), PSBeginTime: &begin, PSEndTime: &end, ExitCode: &code,
		Runtime: api.Runtime{Name: "shell", Version: "2.1.0", Arch: "amd64"}}}
	var buf bytes.Buffer
	if err := writeJobTable(&buf, jobs, columns{width: 80}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("a %d-character line on an 80-column terminal: %q", n, line)
		}
		if !utf8.ValidString(line) {
			t.Errorf("a line cut inside a character: %q", line)
		}
	}
	if !strings.Contains(buf.String(), "üü...") {
		t.Errorf("the command was not cut with ...:\n%s", buf.String())
	}
	buf.Reset()
	if err := writeJobTable(&buf, jobs, columns{wide: true}); err != nil {
		t.Fatal(err)
	}
	head := strings.SplitN(buf.String(), "\n", 2)[0]
	for _, want := range []string{"PSBeginTime", "PSEndTime", "Duration", "ExitCode", "Runtime"} {
		if !strings.Contains(head, want) {
			t.Errorf("-o wide has no %s column: %q", want, head)
		}
	}
	if !strings.Contains(buf.String(), "1.5s") || !strings.Contains(buf.String(), "shell 2.1.0 amd64") {
		t.Errorf("-o wide row:\n%s", buf.String())
	}
}

// On a terminal the job table fits the width by the steps of fitSteps:
// the command is cut first, then HasMoreData and PSJobTypeName go, the name
// is cut, Location goes, ... and Id, Name and State stay, the note on why a
// job waits the last thing given up. Widths are terminal cells: a CJK
// character takes two.
func TestJobTableFits(t *testing.T) {
	long := "nightly-backup-of-the-production-database"
	cjk := "データベースのバックアップ" // 13 characters, 26 cells
	begin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	jobs := []*api.Job{
		{ID: 1, Name: long, PSJobTypeName: "BackgroundJob", State: api.Running, HasMoreData: true, Location: "localhost", Owner: "alice",
			PSBeginTime: &begin, Command: "pg_dump --format=custom --file=/backups/prod.dump production && aws s3 cp /backups s3://bucket/"},
		{ID: 2, Name: cjk, PSJobTypeName: "BackgroundJob", State: api.NotStarted, StateNote: "after 1", Location: "localhost", Owner: "bob", Command: "echo done"},
		{ID: 13, Name: "G", PSJobTypeName: "BackgroundJob", State: api.NotStarted, StateNote: "gpu full", Location: "localhost", Owner: "root", Command: "./train.sh"},
	}
	tests := []struct {
		cols columns
		head []string
		// note: the State column still says why jobs wait.
		note bool
	}{
		{columns{width: 200}, []string{"Id", "Name", "PSJobTypeName", "State", "HasMoreData", "Location", "Command"}, true},
		{columns{width: 120}, []string{"Id", "Name", "PSJobTypeName", "State", "Location", "Command"}, true},
		{columns{width: 80}, []string{"Id", "Name", "State", "Location", "Command"}, true},
		{columns{width: 80, owner: true, started: true}, []string{"Id", "Name", "State", "Owner", "Command"}, true},
		{columns{width: 60}, []string{"Id", "Name", "State", "Command"}, true},
		{columns{width: 40}, []string{"Id", "Name", "State"}, true},
		{columns{width: 40, owner: true}, []string{"Id", "Name", "State"}, true},
		{columns{width: 30}, []string{"Id", "Name", "State"}, false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := writeJobTable(&buf, jobs, tt.cols); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2+len(jobs) {
			t.Fatalf("%+v: %d lines, want one a row (no row wraps):\n%s", tt.cols, len(lines), out)
		}
		for _, l := range lines {
			if n := cellWidth(l); n >= tt.cols.width {
				t.Errorf("%+v: a line %d cells wide on a %d-cell terminal:\n%s", tt.cols, n, tt.cols.width, out)
			}
		}
		if got := strings.Fields(lines[0]); !equalStrings(got, tt.head) {
			t.Errorf("%+v: columns %q, want %q:\n%s", tt.cols, got, tt.head, out)
		}
		if got := strings.Contains(out, "NotStarted (after 1)") && strings.Contains(out, "NotStarted (gpu full)"); got != tt.note {
			t.Errorf("%+v: the notes on why jobs wait shown: %v, want %v:\n%s", tt.cols, got, tt.note, out)
		}
		// Every row's Id, name (whole, or cut with "...") and state.
		for i, j := range jobs {
			f := strings.Fields(lines[2+i])
			if len(f) < 3 || f[0] != fmt.Sprint(j.ID) || !slices.Contains(f[2:], string(j.State)) {
				t.Errorf("%+v: row %q does not start with its id, name and state", tt.cols, lines[2+i])
				continue
			}
			if f[1] != j.Name && !(strings.HasSuffix(f[1], "...") && strings.HasPrefix(j.Name, strings.TrimSuffix(f[1], "..."))) {
				t.Errorf("%+v: name %q is neither %q nor cut from it", tt.cols, f[1], j.Name)
			}
		}
		// Columns line up: each heading starts where its cells do.
		col := strings.Index(lines[0], "State")
		for _, l := range lines[2:] {
			if i := strings.Index(l, " NotStarted"); i >= 0 && cellWidth(l[:i+1]) != cellWidth(lines[0][:col]) {
				t.Errorf("%+v: row %q is not aligned with the heading %q", tt.cols, l, lines[0])
			}
		}
	}

	// -o wide cuts nothing, whatever the width: every name and command
	// whole, and a Reason column with each job's reason in full.
	jobs[1].StateReason = "waiting for job 1 (" + long + ")"
	for _, width := range []int{0, 80} {
		var buf bytes.Buffer
		if err := writeJobTable(&buf, jobs, columns{wide: true, width: width}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range []string{long, cjk, jobs[0].Command, jobs[1].StateReason} {
			if !strings.Contains(out, want) {
				t.Errorf("-o wide (width %d) cut %q:\n%s", width, want, out)
			}
		}
		if strings.Contains(out, "...") || strings.Contains(out, "(after 1)") {
			t.Errorf("-o wide (width %d) cut something, or repeats the reason in the State column:\n%s", width, out)
		}
		if head := strings.Fields(strings.SplitN(out, "\n", 2)[0]); head[len(head)-1] != "Reason" {
			t.Errorf("-o wide's last column is %q, want Reason", head[len(head)-1])
		}
	}
}

// For a terminal: errors red, warnings yellow, verbose dimmed, each line
// labelled with its job when asked; a failed job ends with its reason.
// Without colour, none of the escapes.
func TestTextSinkTerminal(t *testing.T) {
	for _, color := range []bool{true, false} {
		var out, errOut bytes.Buffer
		s := &textSink{out: &out, err: &errOut, verbose: true, color: color,
			label: func(id uint64) string { return map[uint64]string{7: "[Build] "}[id] }}
		for _, r := range []*sdk.Record{sdk.NewOutput("made", ""), sdk.NewMessage(sdk.Warning, "careful"),
			sdk.NewMessage(sdk.Verbose, "detail"), sdk.NewError("broke", nil)} {
			if err := s.Record(7, r); err != nil {
				t.Fatal(err)
			}
		}
		code := 2
		if err := s.End(&api.Job{ID: 7, Name: "Build", State: api.Failed, StateReason: "exit status 2", ExitCode: &code}); err != nil {
			t.Fatal(err)
		}
		if err := s.End(&api.Job{ID: 8, Name: "Fine", State: api.Completed}); err != nil {
			t.Fatal(err)
		}
		wantOut := "[Build] made\n"
		wantErr := "\x1b[33m[Build] WARNING: careful\x1b[0m\n\x1b[2m[Build] VERBOSE: detail\x1b[0m\n\x1b[31m[Build] broke\x1b[0m\n\x1b[31mbgjob: job 7 (Build) failed: exit status 2\x1b[0m\n"
		if !color {
			wantErr = "[Build] WARNING: careful\n[Build] VERBOSE: detail\n[Build] broke\nbgjob: job 7 (Build) failed: exit status 2\n"
		}
		if out.String() != wantOut || errOut.String() != wantErr {
			t.Errorf("colour %v:\nstdout %q\nstderr %q\nwant %q and %q", color, out.String(), errOut.String(), wantOut, wantErr)
		}
		if len(s.failures()) != 1 {
			t.Errorf("failures %v, want the failed job only", s.failures())
		}
	}
}
