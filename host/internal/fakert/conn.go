package fakert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
)

// conn is a fake process's protocol connection.
type conn struct{ p *Process }

func (c conn) Describe(context.Context) (*sdk.Description, error) {
	s := c.p.spec
	return &sdk.Description{Name: "fake", Version: "0.0.0", OS: s.OS, Arch: s.Arch, Protocol: sdk.ProtocolVersion, Pid: c.p.pid}, nil
}

// Run starts the job the first time, and attaches to it every time; the
// stream resends everything not yet acknowledged, as the SDK does.
func (c conn) Run(ctx context.Context, job *sdk.Job, _ uint64) (protocol.Stream, error) {
	if job == nil {
		return nil, errors.New("run request without a job")
	}
	l := c.p.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.p.exited {
		return nil, errExited
	}
	r := c.p.jobs[job.Id]
	if r == nil {
		r = newRun(l, job)
		c.p.jobs[job.Id] = r
		l.runs[job.Id]++
		go r.exec()
	}
	return &stream{ctx: ctx, r: r, sent: r.acked}, nil
}

func (c conn) Ack(_ context.Context, id protocol.RunID, seq uint64, done bool) error {
	return c.ack(id, seq, done, "")
}

// ack takes an acknowledgement, logged with how it came (note).
func (c conn) ack(id protocol.RunID, seq uint64, done bool, note string) error {
	jobID := id.Job
	a := fmt.Sprint(seq)
	if done {
		a += " done"
	}
	a += note
	c.p.l.mu.Lock()
	c.p.l.acks[jobID] = append(c.p.l.acks[jobID], a)
	c.p.l.mu.Unlock()
	return c.withJob(jobID, func(r *run) {
		r.acked = max(r.acked, seq)
		r.doneAcked = r.doneAcked || done
	})
}

func (c conn) Stop(ctx context.Context, jobID uint64, grace time.Duration) error {
	l := c.p.l
	l.mu.Lock()
	var err error
	if l.holdStops != "" {
		err = l.passLocked(ctx, l.holdStops)
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return c.withJob(jobID, func(r *run) {
		r.stopGrace = grace
		r.cancel(errStopped)
	})
}

// withJob calls f with job id's run, under the launcher's lock.
func (c conn) withJob(id uint64, f func(*run)) error {
	l := c.p.l
	l.mu.Lock()
	defer l.mu.Unlock()
	r := c.p.jobs[id]
	if r == nil || c.p.exited {
		return fmt.Errorf("no job %d in this runtime", id)
	}
	f(r)
	return nil
}

var errStopped = errors.New("stopped")

// stream yields a run's records after sent, one batch per record, then
// the job's end.
type stream struct {
	ctx  context.Context
	r    *run
	sent uint64
	buf  []byte
}

func (s *stream) Recv() (*sdk.Batch, error) {
	r, l := s.r, s.r.l
	stop := context.AfterFunc(s.ctx, func() {
		l.mu.Lock()
		l.changed.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		if r.proc().exited {
			return nil, fmt.Errorf("%w: %w", errExited, io.ErrUnexpectedEOF)
		}
		if l.holdStreams && r.done == nil {
			l.changed.Wait()
			continue
		}
		for _, rec := range r.records {
			if rec.Seq+uint64(max(rec.Count, 1))-1 > s.sent {
				var err error
				if s.buf, err = recordlog.AppendFramed(s.buf[:0], rec); err != nil {
					return nil, err
				}
				last := rec.Seq + uint64(max(rec.Count, 1)) - 1
				s.sent = last
				r.sent = max(r.sent, last)
				l.changed.Broadcast()
				b := &sdk.Batch{FirstSeq: rec.Seq, LastSeq: last, Records: s.buf}
				if r.done != nil && last == r.seq {
					// The end with the last records, as the SDK's spool
					// sends it when the job ended before they went out.
					b.Done, s.sent = r.done, ^uint64(0)
				}
				return b, nil
			}
		}
		if r.done != nil {
			if s.sent == ^uint64(0) {
				return nil, io.EOF
			}
			s.sent = ^uint64(0)
			return &sdk.Batch{LastSeq: r.seq, Done: r.done}, nil
		}
		l.changed.Wait()
	}
}

// answeringConn is a process's connection with AnswerReuse: its job's end
// says whether the process takes another (protocol.Reuser), and the end's
// acknowledgement may come late (protocol.EndAcker), as with the next job.
type answeringConn struct{ conn }

func (c answeringConn) TakesAnother() (yes, known bool) {
	c.p.l.mu.Lock()
	defer c.p.l.mu.Unlock()
	return c.p.l.reuse, true
}

func (c answeringConn) AckEnd(run protocol.RunID, seq uint64) {
	_ = c.ack(run, seq, true, " late")
}

func (c answeringConn) FlushAcks() {}
