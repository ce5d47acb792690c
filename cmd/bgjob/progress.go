package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progressView draws jobs' progress records as live bars on a terminal
// (vbauerster/mpb: redrawn in place, text printed above them), one per job
// and activity, a child activity indented under its parent, each cleared
// once it completes. While no bar is drawn, text goes straight through: a
// job without progress pays nothing, and once the last bar is gone the
// bars' container is shut down (mpb would drop text written to it after
// its bars are done).
type progressView struct {
	term io.Writer // the terminal the bars are drawn on

	mu   sync.Mutex
	p    *mpb.Progress
	bars map[barKey]*progressBar
	jobs map[uint64]bool
}

type barKey struct {
	job      uint64
	activity int32
}

// progressBar is one bar and the record it shows.
type progressBar struct {
	bar   *mpb.Bar
	mu    sync.Mutex
	rec   api.Progress
	multi bool // several jobs show progress: label with the job
}

func newProgressView(term io.Writer) *progressView {
	return &progressView{term: term, bars: map[barKey]*progressBar{}, jobs: map[uint64]bool{}}
}

// Update shows one progress record.
func (v *progressView) Update(pr *api.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.jobs[pr.JobID] = true
	k := barKey{pr.JobID, pr.ActivityID}
	b := v.bars[k]
	if b == nil {
		if pr.Completed {
			return // done before it was ever drawn
		}
		if v.p == nil {
			v.p = mpb.New(mpb.WithOutput(v.term), mpb.WithWidth(24), mpb.WithRefreshRate(120*time.Millisecond))
		}
		b = &progressBar{rec: *pr}
		b.bar = v.p.New(100, mpb.BarStyle().Lbound("[").Rbound("]"),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return b.label() })),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return b.detail() })),
			mpb.BarRemoveOnComplete())
		v.bars[k] = b
	}
	b.mu.Lock()
	b.rec, b.multi = *pr, len(v.jobs) > 1
	b.mu.Unlock()
	if !pr.Completed {
		b.bar.SetCurrent(int64(max(pr.Percent, 0)))
		return
	}
	b.bar.SetCurrent(100)
	delete(v.bars, k)
	if len(v.bars) == 0 {
		v.p.Wait() // the last bar is cleared
		v.p = nil
	}
}

// label is the bar's left side: the activity, under its job's name when
// several jobs show progress, indented when it is a child activity.
func (b *progressBar) label() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.rec.Activity
	if b.multi {
		s = b.rec.Job + ": " + s
	}
	if b.rec.ParentID > 0 {
		s = "  " + s
	}
	return s + " "
}

// detail is the bar's right side: percent, time left, status.
func (b *progressBar) detail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := ""
	if b.rec.Percent >= 0 {
		s = fmt.Sprintf(" %3d%%", b.rec.Percent)
	}
	if r := b.rec.SecondsRemaining; r >= 0 {
		s += " " + (time.Duration(r) * time.Second).String() + " left"
	}
	if b.rec.Status != "" {
		s += "  " + b.rec.Status
	}
	if b.rec.CurrentOperation != "" {
		s += "  " + b.rec.CurrentOperation
	}
	return s
}

// Writer returns w as the view prints to it: straight through until bars
// are drawn, then above them.
func (v *progressView) Writer(w io.Writer) io.Writer {
	return viewWriter{v, w}
}

type viewWriter struct {
	v *progressView
	w io.Writer
}

func (vw viewWriter) Write(b []byte) (int, error) {
	vw.v.mu.Lock()
	p := vw.v.p
	vw.v.mu.Unlock()
	if p == nil {
		return vw.w.Write(b)
	}
	return p.Write(b)
}

// Close clears what is still drawn and waits until the terminal is left
// clean.
func (v *progressView) Close() {
	v.mu.Lock()
	p := v.p
	for k, b := range v.bars {
		b.bar.Abort(true)
		delete(v.bars, k)
	}
	v.mu.Unlock()
	if p != nil {
		p.Wait()
	}
}
