package records

import (
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk"
)

// Marker is a Sink that is told, before each flush, how far it has been
// given a job's records (api.Mark). A caller that keeps the marks it was
// sent can tell the next host, should this one die, where it stands: the
// host's own note of what it delivered (the read offset, the last sequence
// number) is written after the delivery, and a host killed between the two
// would send those records again.
type Marker interface {
	Mark(m api.Mark) error
}

// tracker passes one job's records to a sink, leaving out those the caller
// already has (Options.Resume), and marks the sink with how far they have
// come before each flush.
type tracker struct {
	sink   Sink
	marker Marker   // nil: the sink takes no marks
	had    api.Mark // what the caller had before this receive
	at     api.Mark // how far the sink has been given records
	sent   api.Mark // the last mark sent
}

func newTracker(jobID uint64, sink Sink, o Options) *tracker {
	k := &tracker{sink: sink, at: api.Mark{Job: jobID}}
	k.marker, _ = sink.(Marker)
	for _, m := range o.Resume {
		if m.Job == jobID {
			k.had = m
		}
	}
	return k
}

// record passes r, a record of the job's attempt attempt, to the sink
// unless the caller had it already. A record is whole or not had at all:
// the runtime numbers it once, and a host asks it again only for what
// follows a whole record.
func (k *tracker) record(attempt int, r *sdk.Record) error {
	end := sdk.SeqEnd(r)
	k.at.Attempt, k.at.Seq = attempt, end
	if k.had.Seq > 0 && attempt == k.had.Attempt && end <= k.had.Seq {
		return nil
	}
	return k.sink.Record(k.at.Job, r)
}

// flush marks the sink, if it takes marks and the mark moved, then flushes
// it: the mark goes out with the records it covers.
func (k *tracker) flush() error {
	if k.marker != nil && k.at.Seq > 0 && k.at != k.sent {
		if err := k.marker.Mark(k.at); err != nil {
			return err
		}
		k.sent = k.at
	}
	return k.sink.Flush()
}
