//go:build unix

package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// killPoints is a caller's connection that, after each write the host
// makes, looks at all it was sent as a CLI would hold it were the host
// killed right then, and counts what it printed past the marks it had:
// lines of a job past its mark (JSON carries each record's job and
// number), or, for text, lines after the last mark. The host writes whole
// frames, so each write is read on from where the last ended.
type killPoints struct {
	json          bool
	writes, worst int
	printed       map[uint64]uint64 // job -> the last number printed
	marked        map[uint64]uint64 // job -> its last mark
	after         int               // text lines since the last mark
}

func (w *killPoints) Write(p []byte) (int, error) {
	if w.printed == nil {
		w.printed, w.marked = map[uint64]uint64{}, map[uint64]uint64{}
	}
	w.writes++
	br := bufio.NewReader(bytes.NewReader(p))
	for {
		kind, pl, err := api.ReadFrame(br, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		switch {
		case kind == api.FrameMark:
			m, err := api.ParseMark(pl)
			if err != nil {
				return 0, err
			}
			w.marked[m.Job], w.after = m.Seq, 0
		case kind == api.FrameStdout && w.json:
			dec := json.NewDecoder(bytes.NewReader(pl))
			for dec.More() {
				var r struct {
					JobID uint64 `json:"jobId"`
					Seq   uint64 `json:"seq"`
				}
				if err := dec.Decode(&r); err != nil {
					return 0, err
				}
				w.printed[r.JobID] = max(w.printed[r.JobID], r.Seq)
			}
		case kind == api.FrameStdout:
			w.after += bytes.Count(pl, []byte("\n"))
		}
	}
	past := w.after
	for id, s := range w.printed {
		past += int(s - min(s, w.marked[id]))
	}
	w.worst = max(w.worst, past)
	return len(p), nil
}

// TestMarksCoverEveryWrite: whenever the host's output to a start --wait
// leaves it, the marks in it cover every record in it, whether one job
// prints or several children at once (whose records share the reply), in
// JSON or text, from the relay or the log, and however many bytes go
// between flushes: a kill after any write leaves the caller nothing it
// would be sent again.
func TestMarksCoverEveryWrite(t *testing.T) {
	for _, tt := range []struct {
		name   string
		script string
		items  []string
		json   bool
	}{
		{"one job, 100,000 lines, JSON", "wait g; lines 100000", nil, true},
		{"one job, text", "wait g; lines 2000; echo x; lines 300000", nil, false},
		{"four children, JSON", "wait g; lines 300; echo x; lines 30000", []string{"a", "b", "c", "d"}, true},
		{"three children, text", "wait g; lines 100000", []string{"a", "b", "c"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, l := hosttest.Fake(t)
			th := hosttest.Open(t, "", opts)
			j := th.Start(tt.script, func(r *api.StartRequest) { r.ForEach = tt.items })
			w := &killPoints{json: tt.json}
			rep := newReply(w)
			req := &api.Request{Op: api.OpStart, Wait: true, Marks: true}
			if tt.json {
				req.Output = api.FormatJSON
			}
			done := make(chan error, 1)
			go func() { done <- startWait(context.Background(), th.Host, j, req, rep) }()
			// Most of it straight from the relay, once the receive waits.
			time.Sleep(100 * time.Millisecond)
			l.Open("g")
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("start --wait: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("start --wait did not end within 60s")
			}
			if err := rep.flush(); err != nil {
				t.Fatal(err)
			}
			if w.writes < 3 {
				t.Fatalf("%d writes: the test wants the output in several", w.writes)
			}
			if w.worst > 0 {
				t.Errorf("a host killed after one of the %d writes leaves the caller %d lines past its marks, which the next host sends again", w.writes, w.worst)
			}
		})
	}
}
