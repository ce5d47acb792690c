package main

import (
	"cmp"
	"io"
	"os"
	"slices"

	"github.com/bgjob/bgjob/host/api"
)

// resume keeps, for a start --wait, the last mark the host sent for each
// job: how far its records have come to this command. Sent again to the
// next host, after the one it talked to died, the start carries them
// (Request.Resume), and no line is printed twice. Marks come in the
// goroutine that reads the reply, which is the one that sends again.
type resume struct {
	marks map[uint64]api.Mark
}

func (k *resume) mark(m api.Mark) {
	if k.marks == nil {
		k.marks = map[uint64]api.Mark{}
	}
	k.marks[m.Job] = m
}

// list returns the marks, by job id.
func (k *resume) list() []api.Mark {
	out := make([]api.Mark, 0, len(k.marks))
	for _, m := range k.marks {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b api.Mark) int { return cmp.Compare(a.Job, b.Job) })
	return out
}

// countable returns w as it is when the host may write to it itself (it
// is handed the file: see api.Client), or hidden behind a plain writer so
// that what the host prints comes through this command, which counts it
// (resume). Only a regular file or a device that is no terminal
// (/dev/null) goes to the host, and only when stdout and stderr both do:
// the host's own writes are faster (the relay's speed), but a host killed
// in the instant between such a write and its note of it may repeat what
// it wrote last (a batch: up to 64 KiB and a record read from the log, or
// one the relay handed over, up to about 1 MiB; see docs/design.md). A
// pipe, a socket or a terminal, where a line shown twice is seen by a
// person or a program, is written here.
func countable(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return w
	}
	if fi, err := f.Stat(); err == nil {
		m := fi.Mode()
		if m.IsRegular() || m&os.ModeCharDevice != 0 && !isTerminal(f) {
			return f
		}
	}
	return struct{ io.Writer }{f}
}
