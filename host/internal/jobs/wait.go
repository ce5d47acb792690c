package jobs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// Wait blocks until every selected job (or, with any, one of them) has
// finished, or timeout (if positive) passes; it returns the finished jobs.
//
// With a state option the jobs are those in that state when the wait
// begins (Wait-Job -State Running waits for the jobs running now).
func (t *Table) Wait(ctx context.Context, c Caller, sel []string, anyOne bool, timeout time.Duration, opts ...SelectOption) ([]*api.Job, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
		defer cancel()
	}
	var o selectOptions
	for _, f := range opts {
		f(&o)
	}
	if Filtered(opts) {
		t.mu.Lock()
		js, err := t.SelectFiltered(c, sel, opts)
		t.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if len(js) == 0 {
			return nil, nil
		}
		sel = nil
		for _, j := range js {
			sel = append(sel, strconv.FormatUint(j.Row.ID, 10))
		}
	}
	for {
		t.mu.Lock()
		js, err := t.SelectLocked(c, sel)
		if err != nil {
			t.mu.Unlock()
			return nil, err
		}
		done, pending := splitWaitLocked(js, o.untilFinished)
		var waits []chan struct{}
		for _, j := range pending {
			waits = append(waits, j.Changed)
		}
		t.mu.Unlock()
		if len(pending) == 0 || (anyOne && len(done) > 0) {
			return done, nil
		}
		if anyOne {
			err = waitAny(ctx, waits)
		} else {
			err = t.waitEach(ctx, pending, o.untilFinished)
		}
		if err != nil {
			// What has ended meanwhile is answered too (the CLI prints
			// it with the error).
			t.mu.Lock()
			done, pending = splitWaitLocked(js, o.untilFinished)
			t.mu.Unlock()
			if context.Cause(ctx) != errWaitTimeout {
				return done, err
			}
			if len(pending) == 0 {
				return done, nil // the last one ended as the time ran out
			}
			ids := make([]string, len(pending))
			for i, j := range pending {
				ids[i] = strconv.FormatUint(j.Row.ID, 10)
				if j.Row.State != api.Running {
					ids[i] += " (" + string(j.Row.State) + ")"
				}
			}
			return done, errorf(ErrTimeout, "timed out after %v; not finished: job %s", timeout, strings.Join(ids, ", "))
		}
	}
}

// splitWaitLocked splits js, leaving out the jobs removed, into those
// whose wait is over (as the user sees them) and those still waited for.
func splitWaitLocked(js []*Job, untilFinished bool) (done []*api.Job, pending []*Job) {
	for _, j := range js {
		switch {
		case j.Removed:
		case waitOver(j, untilFinished):
			done = append(done, j.ViewLocked())
		default:
			pending = append(pending, j)
		}
	}
	return done, pending
}

// waitOver reports whether a wait for j is over: j has finished, or is
// suspended and the wait is not until it finishes.
func waitOver(j *Job, untilFinished bool) bool {
	return j.Row.State.Finished() || (j.Row.State == api.Suspended && !untilFinished)
}

// waitEach waits until the wait for each of js is over, one job after the
// other, looking at that job alone on each of its changes; Wait selects
// again after. Selecting again on every change of any job, as a wait for
// one of several must, would cost the square of the jobs' number: each of
// 10,000 jobs changes state three times.
func (t *Table) waitEach(ctx context.Context, js []*Job, untilFinished bool) error {
	for _, j := range js {
		for {
			t.mu.Lock()
			over, ch := waitOver(j, untilFinished) || j.Removed, j.Changed
			t.mu.Unlock()
			if over {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// errWaitTimeout tells Wait's own timeout from the caller's deadline.
var errWaitTimeout = errors.New("wait timed out")

// waitAny waits for one of chs to close.
func waitAny(ctx context.Context, chs []chan struct{}) error {
	if len(chs) == 1 {
		select {
		case <-chs[0]:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	woke := make(chan struct{}, len(chs))
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range chs {
		go func(ch chan struct{}) {
			select {
			case <-ch:
				woke <- struct{}{}
			case <-stop:
			}
		}(ch)
	}
	select {
	case <-woke:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
