package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/mattn/go-runewidth"
)

// screen is the little of a terminal the progress view uses: text, \n
// (with the terminal's own carriage return), \r, ESC [ n A (cursor up) and
// ESC [ J (clear to the end of the screen). Stdout and stderr write to the
// same screen, as on a terminal.
type screen struct {
	lines    [][]rune
	row, col int
}

func (s *screen) Write(p []byte) (int, error) {
	rs := []rune(string(p))
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\n':
			s.row, s.col = s.row+1, 0
		case r == '\r':
			s.col = 0
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(string(rs[i+2 : j]))
			switch rs[j] {
			case 'A':
				s.row = max(s.row-max(n, 1), 0)
			case 'J':
				s.grow()
				s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
				s.lines = s.lines[:s.row+1]
			}
			i = j
		default:
			s.grow()
			l := s.lines[s.row]
			for len(l) <= s.col {
				l = append(l, ' ')
			}
			l[s.col] = r
			s.lines[s.row] = l
			s.col++
		}
	}
	return len(p), nil
}

func (s *screen) grow() {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, nil)
	}
}

// stream is one of the two streams (stdout, stderr) writing to a screen.
type stream struct{ scr *screen }

func (s *stream) Write(p []byte) (int, error) { return s.scr.Write(p) }

// text is what the screen shows, its empty last lines left out.
func (s *screen) text() []string {
	var out []string
	for _, l := range s.lines {
		out = append(out, strings.TrimRight(string(l), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// TestProgressView: bars at the bottom, text above them in whole lines, a
// completed bar gone, nothing wider than the terminal, and the start of a
// line printed once its end comes or the bars go.
func TestProgressView(t *testing.T) {
	scr := &screen{}
	v := newProgressView(scr)
	v.width = func() int { return 60 }
	v.every = 0 // every update drawn: the test reads each
	out, errw := v.Writer(&stream{scr}), v.Writer(&stream{scr})

	out.Write([]byte("before\n"))
	want := func(what string, lines ...string) {
		t.Helper()
		if got := scr.text(); strings.Join(got, "|") != strings.Join(lines, "|") {
			t.Fatalf("%s: the screen shows\n%q\nwant\n%q", what, got, lines)
		}
	}
	want("no bars: text goes through", "before")

	v.Update(&api.Progress{JobID: 1, Job: "J", ActivityID: 1, Activity: "copy", Percent: 50, SecondsRemaining: -1})
	want("a bar", "before", "copy [============>-----------]  50%")
	v.Update(&api.Progress{JobID: 1, Job: "J", ActivityID: 2, ParentID: 1, Activity: "file", Percent: 0, SecondsRemaining: 3,
		Status: strings.Repeat("a long status ", 10)})
	if got := scr.text(); len(got) != 3 || !strings.HasPrefix(got[2], "  file [>") || runewidth.StringWidth(got[2]) >= 60 {
		t.Fatalf("a child bar, cut to the width: %q", got)
	}
	out.Write([]byte("line one\nline "))
	errw.Write([]byte("WARNING: w\n"))
	got := scr.text()
	if len(got) != 5 || got[1] != "line one" || got[2] != "WARNING: w" || !strings.HasPrefix(got[3], "copy [") {
		t.Fatalf("text above the bars, a line's start held back: %q", got)
	}
	v.Update(&api.Progress{JobID: 1, ActivityID: 2, Completed: true})
	v.Update(&api.Progress{JobID: 1, ActivityID: 1, Completed: true})
	want("the bars gone, the held start of a line out", "before", "line one", "WARNING: w", "line")
	out.Write([]byte("two\n"))
	want("text goes through again", "before", "line one", "WARNING: w", "line two")

	v.Update(&api.Progress{JobID: 2, Job: "K", ActivityID: 1, Activity: "scan", Percent: 10, SecondsRemaining: -1})
	if got := scr.text(); len(got) != 5 || !strings.HasPrefix(got[4], "K: scan [") {
		t.Fatalf("a second job's bar names its job: %q", got)
	}
	v.Close()
	want("closed: nothing drawn", "before", "line one", "WARNING: w", "line two")
}
