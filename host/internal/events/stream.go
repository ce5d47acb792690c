package events

import (
	"context"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
)

// Stream hands emit each event of the jobs c may see, selected by sel
// (ids, names, wildcards, instance ids: the jobs they name when the
// stream begins; none: every job, new ones too) and f (--state: the state
// moved to; --group), from after req.Since (nil: from now) until ctx ends,
// or with req.UntilDone until the selected jobs have all finished.
func (l *Log) Stream(ctx context.Context, c jobs.Caller, sel []string, f *api.Filter, req *api.EventsRequest, emit func(*api.Event) error) error {
	if req == nil {
		req = &api.EventsRequest{}
	}
	var state api.State
	var group string
	if f != nil {
		if f.State != "" {
			s, err := jobs.ParseState(f.State)
			if err != nil {
				return err
			}
			state = s
		}
		group = f.Group
	}
	var ids map[uint64]bool // nil: every job c sees
	if len(sel) > 0 {
		t := l.cfg.Table
		t.Lock()
		js, err := t.SelectLocked(c, sel)
		t.Unlock()
		if err != nil {
			return err
		}
		ids = map[uint64]bool{}
		for _, j := range jobs.WithChildren(js) {
			ids[j.Row.ID] = true
		}
	}
	since := l.Seq()
	if req.Since != nil {
		since = *req.Since
	}
	for {
		// Finished first, events second: a job's last event is logged in
		// the same step as its end, so none is missed.
		done := req.UntilDone && l.finished(c, ids)
		evs, changed := l.after(since)
		for i := range evs {
			r := &evs[i]
			since = r.Seq
			if (!c.Root() && r.Owner != c.UID) || (ids != nil && !ids[r.JobID]) ||
				(state != "" && r.To != state) || (group != "" && r.Group != group) {
				continue
			}
			if err := emit(&r.Event); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // the caller went away (Ctrl-C): the stream is over
		case <-changed:
		}
	}
}

// finished reports whether every job in ids (nil: every job c sees) has
// finished or is gone.
func (l *Log) finished(c jobs.Caller, ids map[uint64]bool) bool {
	t := l.cfg.Table
	t.Lock()
	defer t.Unlock()
	if ids != nil {
		for id := range ids {
			if j := t.GetLocked(id); j != nil && !j.Removed && !j.Row.State.Finished() {
				return false
			}
		}
		return true
	}
	for j := range t.AllLocked() {
		if j.VisibleTo(c) && !j.Removed && !j.Row.State.Finished() {
			return false
		}
	}
	return true
}
