package records

import (
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
)

// Marker is a Sink that is told, after each record it was given (or that
// was left out because the caller had it), how far it has a job's records
// (api.Mark), and, after a finished job's End, that the job's end was
// given too. A caller that keeps the marks can tell the next host, should
// this one die, where it stands: the host's own note of what it delivered
// (the read offset, the last sequence number) is written after the
// delivery, and a host killed between the two would send those records
// again. The sink sends a mark after the records it covers, whenever its
// output leaves (see the server's reply).
type Marker interface {
	Mark(m api.Mark) error
}

// tracker passes one job's records to a sink, leaving out those the caller
// already has (Options.Resume), and marks the sink with how far they have
// come.
type tracker struct {
	sink   Sink
	shared *lockedSink // the sink, when several jobs' receives share it
	marks  bool        // the sink (the shared one's, if shared) is a Marker
	had    api.Mark    // what the caller had before this receive
	at     api.Mark    // how far the sink has been given records
}

func newTracker(jobID uint64, sink Sink, o Options) *tracker {
	k := &tracker{sink: sink, at: api.Mark{Job: jobID}}
	inner := sink
	if k.shared, _ = sink.(*lockedSink); k.shared != nil {
		inner = k.shared.sink
	}
	_, k.marks = inner.(Marker)
	for _, m := range o.Resume {
		if m.Job == jobID {
			k.had = m
		}
	}
	return k
}

// pass calls f with the sink, holding a shared sink's lock for the whole
// call: what f gives it (a record and its mark) goes out together, never
// split by another job's flush.
func (k *tracker) pass(f func(Sink) error) error {
	if k.shared == nil {
		return f(k.sink)
	}
	k.shared.mu.Lock()
	defer k.shared.mu.Unlock()
	return f(k.shared.sink)
}

// record passes r, a record of the job's attempt attempt, to the sink
// unless the caller had it already. A record is whole or not had at all:
// the runtime numbers it once, and a host asks it again only for what
// follows a whole record.
func (k *tracker) record(attempt int, r *sdk.Record) error {
	end := sdk.SeqEnd(r)
	had := k.had.Seq > 0 && attempt == k.had.Attempt && end <= k.had.Seq
	k.at.Attempt, k.at.Seq = attempt, end
	if !k.marks {
		if had {
			return nil
		}
		return k.sink.Record(k.at.Job, r)
	}
	return k.pass(func(s Sink) error {
		if !had {
			if err := s.Record(k.at.Job, r); err != nil {
				return err
			}
		}
		return s.(Marker).Mark(k.at)
	})
}

// end passes the finished job's last row v to the sink's End, and marks it
// with the end: the end line, and whether the caller had it, go together
// as the records do.
func (k *tracker) end(v *api.Job, attempt int) error {
	k.at.Attempt, k.at.End = attempt, true
	return k.pass(func(s Sink) error {
		if e, ok := s.(Ender); ok {
			if err := e.End(v); err != nil {
				return err
			}
		}
		if !k.marks {
			return nil
		}
		return s.(Marker).Mark(k.at)
	})
}
