package server

import (
	"bytes"
	"context"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// receiveTail is receive --tail N: the last N records (lines) of each
// job that the receive would show, as tail -n prints, and with --wait what
// comes after them, as tail -f does. It consumes nothing: a tail is a look
// at the end, and draining the records before it, unseen, would lose them;
// a later receive still gets everything.
//
// The log is read once: the tail sink keeps each job's last N records
// until the receive has read all of that job's log (CaughtUp, or the job's
// end), passes them on, and from then on passes on what comes.
func receiveTail(ctx context.Context, h *host.Host, req *api.Request, o host.ReceiveOptions, sink receiveSink) error {
	o.Keep, o.AutoRemove = true, false
	t := newTailSink(*req.Tail, req.Output == api.FormatJSON, req.Verbose, req.Debug)
	t.out, t.follow = sink, o.Wait
	if err := h.Receive(ctx, req.Jobs, o, t); err != nil {
		return err
	}
	// Without --wait, the tails go out now, job by job in the order they
	// were read, each with its end if it has ended.
	for _, id := range t.order {
		if err := t.passOn(id); err != nil {
			return err
		}
		if j := t.ended[id]; j != nil {
			if err := sink.End(j); err != nil {
				return err
			}
		}
	}
	return sink.Flush()
}

// tailSink keeps the last n records of each job that the output shows,
// text chunks split into their lines, and passes them on to out once the
// receive has read the job's log: then what follows goes straight on.
type tailSink struct {
	n                   int
	all, verbose, debug bool // all: every stream (JSON)
	out                 receiveSink
	follow              bool // --wait: tails go out as the receive catches up
	order               []uint64
	ended               map[uint64]*api.Job // without follow: ends, passed on last
	kept                map[uint64][]*sdk.Record
	passed              map[uint64]bool // the tail is out; records go straight on
}

func newTailSink(n int, all, verbose, debug bool) *tailSink {
	return &tailSink{n: max(n, 0), all: all, verbose: verbose, debug: debug,
		kept: map[uint64][]*sdk.Record{}, passed: map[uint64]bool{}, ended: map[uint64]*api.Job{}}
}

// shown says whether the receive prints records of stream s: in text,
// neither progress (a bar drawn for what is live, not history) nor
// verbose and debug unless asked for.
func (t *tailSink) shown(s sdk.Stream) bool {
	switch {
	case t.all:
		return true
	case s == sdk.Verbose:
		return t.verbose
	case s == sdk.Debug:
		return t.debug
	}
	return s != sdk.Progress
}

func (t *tailSink) see(jobID uint64) {
	if _, ok := t.kept[jobID]; !ok && !t.passed[jobID] {
		t.order = append(t.order, jobID)
		t.kept[jobID] = nil
	}
}

// Record keeps r (a copy: r is only valid during the call), or its last
// lines, dropping what falls out of the last n; once the job's tail is
// out, it passes r on.
func (t *tailSink) Record(jobID uint64, r *sdk.Record) error {
	if t.passed[jobID] {
		return t.out.Record(jobID, r)
	}
	t.see(jobID)
	if !t.shown(r.Stream) || t.n == 0 {
		return nil
	}
	var add []*sdk.Record
	if r.Chunk != nil {
		lines := [][]byte{r.Chunk}
		if r.Count > 1 { // a line a number (see jsonSink.Record)
			lines = bytes.SplitAfter(r.Chunk, []byte("\n"))
			if len(lines[len(lines)-1]) == 0 {
				lines = lines[:len(lines)-1]
			}
		}
		first := max(len(lines)-t.n, 0)
		for i := first; i < len(lines); i++ {
			add = append(add, &sdk.Record{Seq: r.Seq + uint64(i), TimeUnixNano: r.TimeUnixNano, Stream: r.Stream,
				Chunk: bytes.Clone(lines[i]), Count: 1})
		}
	} else {
		add = append(add, proto.Clone(r).(*sdk.Record))
	}
	k := append(t.kept[jobID], add...)
	if len(k) > 2*t.n {
		// Copied down now and then, so a long log keeps n records,
		// not all it had.
		k = append([]*sdk.Record(nil), k[len(k)-t.n:]...)
	}
	t.kept[jobID] = k
	return nil
}

// CaughtUp: the receive has read all of the job's log; its tail goes out.
func (t *tailSink) CaughtUp(jobID uint64) error { return t.passOn(jobID) }

// End passes on a finished job's tail, then its end; without follow, both
// wait for the receive to end.
func (t *tailSink) End(j *api.Job) error {
	if !t.follow {
		t.see(j.ID)
		t.ended[j.ID] = j
		return nil
	}
	if err := t.passOn(j.ID); err != nil {
		return err
	}
	return t.out.End(j)
}

// Flush flushes what went out; kept records wait for their job's tail.
func (t *tailSink) Flush() error {
	if !t.follow {
		return nil
	}
	return t.out.Flush()
}

// passOn gives out the job's last n records, once.
func (t *tailSink) passOn(jobID uint64) error {
	if t.passed[jobID] {
		return nil
	}
	k := t.kept[jobID]
	t.passed[jobID] = true
	delete(t.kept, jobID)
	for _, r := range k[max(len(k)-t.n, 0):] {
		if err := t.out.Record(jobID, r); err != nil {
			return err
		}
	}
	return nil
}
