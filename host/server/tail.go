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
// It reads each job's records twice with the host's own receive: once to
// the end to keep the last N, then, with --wait, following from the start
// again and passing on only the records past those already read (records
// are numbered, in order, per job).
func receiveTail(ctx context.Context, h *host.Host, req *api.Request, o host.ReceiveOptions, sink receiveSink) error {
	o.Keep, o.AutoRemove = true, false
	follow := o.Wait
	o.Wait = false
	t := newTailSink(*req.Tail, req.Output == api.FormatJSON, req.Verbose, req.Debug)
	if err := h.Receive(ctx, req.Jobs, o, t); err != nil {
		return err
	}
	if err := t.passOn(sink); err != nil {
		return err
	}
	if !follow {
		return sink.Flush()
	}
	o.Wait = true
	return h.Receive(ctx, req.Jobs, o, &afterSink{sink: sink, tail: t})
}

// tailSink keeps the last n records of each job that the output shows,
// text chunks split into their lines, and the ends of the jobs that ended.
type tailSink struct {
	n                   int
	all, verbose, debug bool // all: every stream (JSON)
	order               []uint64
	kept                map[uint64][]*sdk.Record
	last                map[uint64]uint64 // the highest sequence number read, of any stream
	ended               map[uint64]*api.Job
}

func newTailSink(n int, all, verbose, debug bool) *tailSink {
	return &tailSink{n: max(n, 0), all: all, verbose: verbose, debug: debug,
		kept: map[uint64][]*sdk.Record{}, last: map[uint64]uint64{}, ended: map[uint64]*api.Job{}}
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
	if _, ok := t.last[jobID]; !ok {
		t.order = append(t.order, jobID)
		t.last[jobID] = 0
	}
}

// Record keeps r (a copy: r is only valid during the call), or its last
// lines, dropping what falls out of the last n.
func (t *tailSink) Record(jobID uint64, r *sdk.Record) error {
	t.see(jobID)
	t.last[jobID] = max(t.last[jobID], r.Seq+uint64(max(r.Count, 1))-1)
	if !t.shown(r.Stream) || t.n == 0 {
		return nil
	}
	var add []*sdk.Record
	if r.Chunk != nil {
		lines := bytes.SplitAfter(r.Chunk, []byte("\n"))
		if len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
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

// End keeps a finished job's end, to pass on after its last records.
func (t *tailSink) End(j *api.Job) error {
	t.see(j.ID)
	t.ended[j.ID] = j
	return nil
}

func (t *tailSink) Flush() error { return nil }

// passOn gives sink each job's last n records, then its end.
func (t *tailSink) passOn(sink receiveSink) error {
	for _, id := range t.order {
		k := t.kept[id]
		for _, r := range k[max(len(k)-t.n, 0):] {
			if err := sink.Record(id, r); err != nil {
				return err
			}
		}
		if j := t.ended[id]; j != nil {
			if e, ok := sink.(host.Ender); ok {
				if err := e.End(j); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// afterSink passes on what follows a tail: the records past those the
// tail read, and the ends it has not passed on already.
type afterSink struct {
	sink receiveSink
	tail *tailSink
}

func (a *afterSink) Record(jobID uint64, r *sdk.Record) error {
	if last, ok := a.tail.last[jobID]; ok && r.Seq <= last {
		return nil
	}
	return a.sink.Record(jobID, r)
}

func (a *afterSink) End(j *api.Job) error {
	if a.tail.ended[j.ID] != nil {
		return nil
	}
	if e, ok := a.sink.(host.Ender); ok {
		return e.End(j)
	}
	return nil
}

func (a *afterSink) Flush() error { return a.sink.Flush() }
