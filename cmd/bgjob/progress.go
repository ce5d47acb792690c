package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/mattn/go-runewidth"
	"golang.org/x/term"
)

// progressView draws jobs' progress records as live bars at the bottom of a
// terminal, one per job and activity, a child activity indented under its
// parent, each cleared once it completes; text printed meanwhile goes
// above them. While no bar is drawn, text goes straight through: a job
// without progress pays nothing.
//
// It is drawn here rather than by a bar library: what bgjob needs is a few
// lines redrawn in place, and the library it used (vbauerster/mpb) cost
// every call of the CLI its package initialisation (a regular expression
// compiled at start), progress or not.
//
// Drawing: the bars are the last lines on the terminal, the cursor at the
// start of the line below them. To redraw, the cursor goes up over them
// (ESC [ n A) and clears to the end of the screen (ESC [ J); each bar is cut
// to the terminal's width, so none wraps and the count of lines is right.
// Text written while bars are up is passed on in whole lines, the bars
// cleared first and drawn again after; a line's start waits for its end.
type progressView struct {
	term  io.Writer     // the terminal the bars are drawn on
	width func() int    // the terminal's width in cells
	every time.Duration // at most one redraw for updates per this

	mu      sync.Mutex
	bars    []*progressBar // in the order they appeared
	jobs    map[uint64]bool
	drawn   int                  // lines of bars on the terminal now
	partial map[io.Writer][]byte // the start of a line each writer has not ended
	timer   *time.Timer          // a redraw due for updates
	last    time.Time            // the last redraw
}

type barKey struct {
	job      uint64
	activity int32
}

// progressBar is one bar and the record it shows.
type progressBar struct {
	key barKey
	rec api.Progress
}

// barWidth is the bar's own width, between its brackets.
const barWidth = 24

func newProgressView(term io.Writer) *progressView {
	return &progressView{term: term, width: termWidth(term), every: 120 * time.Millisecond,
		jobs: map[uint64]bool{}, partial: map[io.Writer][]byte{}}
}

// termWidth is the width of w when it is a terminal, else 80.
func termWidth(w io.Writer) func() int {
	return func() int {
		if f, ok := w.(*os.File); ok {
			if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
				return n
			}
		}
		return 80
	}
}

// Update shows one progress record.
func (v *progressView) Update(pr *api.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.jobs[pr.JobID] = true
	k := barKey{pr.JobID, pr.ActivityID}
	i := v.find(k)
	switch {
	case i < 0 && pr.Completed:
		return // done before it was ever drawn
	case i < 0:
		v.bars = append(v.bars, &progressBar{key: k, rec: *pr})
	case pr.Completed:
		v.bars = append(v.bars[:i], v.bars[i+1:]...)
		v.redrawLocked() // a bar that is gone goes at once
		return
	default:
		v.bars[i].rec = *pr
	}
	// Updates come as fast as a job makes them: drawn at most every so
	// often, the newest of them.
	if wait := v.every - time.Since(v.last); wait > 0 {
		if v.timer == nil {
			v.timer = time.AfterFunc(wait, func() {
				v.mu.Lock()
				defer v.mu.Unlock()
				v.timer = nil
				v.redrawLocked()
			})
		}
		return
	}
	v.redrawLocked()
}

func (v *progressView) find(k barKey) int {
	for i, b := range v.bars {
		if b.key == k {
			return i
		}
	}
	return -1
}

// clearLocked takes the bars off the terminal.
func (v *progressView) clearLocked() {
	if v.drawn > 0 {
		fmt.Fprintf(v.term, "\r\x1b[%dA\x1b[J", v.drawn)
		v.drawn = 0
	}
}

// redrawLocked draws the bars again, in one write.
func (v *progressView) redrawLocked() {
	v.last = time.Now()
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA\x1b[J", v.drawn)
	}
	width := v.width()
	multi := len(v.jobs) > 1
	for _, bar := range v.bars {
		b.WriteString(runewidth.Truncate(bar.line(multi), width-1, ""))
		b.WriteByte('\n')
	}
	v.drawn = len(v.bars)
	if b.Len() > 0 {
		_, _ = io.WriteString(v.term, b.String())
	}
	if len(v.bars) == 0 {
		// Nothing drawn: text goes straight through again, after what
		// waited for its line's end.
		for w, p := range v.partial {
			_, _ = w.Write(p)
			delete(v.partial, w)
		}
	}
}

// line is the bar's line: the activity, under its job's name when several
// jobs show progress, indented when it is a child activity; the bar; the
// percent, time left, status and current operation.
func (b *progressBar) line(multi bool) string {
	r := b.rec
	label := r.Activity
	if multi {
		label = r.Job + ": " + label
	}
	if r.ParentID > 0 {
		label = "  " + label
	}
	fill := int(min(max(r.Percent, 0), 100)) * barWidth / 100
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat("-", barWidth-fill-1)
	}
	s := label + " [" + bar + "]"
	if r.Percent >= 0 {
		s += fmt.Sprintf(" %3d%%", r.Percent)
	}
	if left := r.SecondsRemaining; left >= 0 {
		s += " " + (time.Duration(left) * time.Second).String() + " left"
	}
	if r.Status != "" {
		s += "  " + r.Status
	}
	if r.CurrentOperation != "" {
		s += "  " + r.CurrentOperation
	}
	return s
}

// Writer returns w as the view prints to it: straight through while no
// bars are drawn, else above them.
func (v *progressView) Writer(w io.Writer) io.Writer {
	return viewWriter{v, w}
}

type viewWriter struct {
	v *progressView
	w io.Writer
}

func (vw viewWriter) Write(p []byte) (int, error) {
	v := vw.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.bars) == 0 && v.drawn == 0 && len(v.partial[vw.w]) == 0 {
		return vw.w.Write(p)
	}
	// Whole lines go above the bars; the start of a line waits for its
	// end (or for the bars to go).
	buf := append(v.partial[vw.w], p...)
	cut := bytes.LastIndexByte(buf, '\n') + 1
	if cut == 0 {
		v.partial[vw.w] = buf
		return len(p), nil
	}
	v.clearLocked()
	_, err := vw.w.Write(buf[:cut])
	v.partial[vw.w] = append([]byte(nil), buf[cut:]...)
	if len(v.partial[vw.w]) == 0 {
		delete(v.partial, vw.w)
	}
	v.redrawLocked()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close clears what is still drawn and passes on what waited for its
// line's end.
func (v *progressView) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
	v.bars = nil
	v.clearLocked()
	v.redrawLocked()
}
