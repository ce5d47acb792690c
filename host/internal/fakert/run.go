package fakert

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// run is one job in a fake process: its records and how it ended. Its
// fields are guarded by the launcher's mutex.
type run struct {
	l         *Launcher
	job       *sdk.Job
	ctx       context.Context
	cancel    context.CancelCauseFunc
	records   []*sdk.Record
	seq       uint64
	acked     uint64
	doneAcked bool
	done      *sdk.Done
	blocked   bool
	sent      uint64 // the highest seq a stream has handed to a host
	stopGrace time.Duration
}

func newRun(l *Launcher, job *sdk.Job) *run {
	r := &run{l: l, job: job}
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	return r
}

// proc is the process running r.
func (r *run) proc() *Process {
	for _, p := range r.l.procs {
		if p.jobs[r.job.Id] == r {
			return p
		}
	}
	return &Process{exited: true}
}

func (r *run) emit(rec *sdk.Record) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if r.done != nil || r.proc().exited {
		return
	}
	rec.Seq = r.seq + 1
	if rec.TimeUnixNano == 0 {
		rec.TimeUnixNano = 1
	}
	r.seq += uint64(max(rec.Count, 1))
	r.records = append(r.records, rec)
	r.l.changed.Broadcast()
}

func (r *run) text(s sdk.Stream) *sdk.TextWriter {
	return sdk.NewTextWriter(s, func(rec *sdk.Record) error {
		r.emit(proto.Clone(rec).(*sdk.Record))
		return nil
	})
}

func (r *run) finish(d *sdk.Done) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if r.done == nil {
		r.done = d
		r.l.changed.Broadcast()
	}
}

// block waits until ch is closed, the job is stopped, or (for hang) only
// until the process dies. It reports whether the job may go on.
func (r *run) block(ch <-chan struct{}, ignoreStop bool) bool {
	r.setBlocked(true)
	defer r.setBlocked(false)
	for {
		select {
		case <-ch:
			return true
		case <-r.ctx.Done():
			if ignoreStop && context.Cause(r.ctx) == errStopped {
				r.l.mu.Lock()
				exited := r.proc().exited
				r.l.mu.Unlock()
				if !exited {
					r.waitExit()
				}
			}
			return false
		}
	}
}

func (r *run) setBlocked(b bool) {
	r.l.mu.Lock()
	r.blocked = b
	r.l.changed.Broadcast()
	r.l.mu.Unlock()
}

// waitExit waits until the process dies.
func (r *run) waitExit() {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	for !r.proc().exited {
		r.l.changed.Wait()
	}
}

// exec runs the job's script.
func (r *run) exec() {
	out, errw := r.text(sdk.Output), r.text(sdk.Error)
	end := func(d *sdk.Done) {
		_ = out.Flush()
		_ = errw.Flush()
		r.finish(d)
	}
	stopped := func() {
		if context.Cause(r.ctx) == errStopped {
			end(&sdk.Done{State: sdk.Stopped, Reason: "stopped"})
		}
		// A dead process says nothing more.
	}
	for _, cmd := range strings.FieldsFunc(r.job.Script, func(c rune) bool { return c == ';' || c == '\n' }) {
		f := strings.Fields(cmd)
		if len(f) == 0 {
			continue
		}
		if r.ctx.Err() != nil {
			stopped()
			return
		}
		rest := strings.Join(f[1:], " ")
		switch f[0] {
		case "echo":
			fmt.Fprintln(out, rest)
		case "echoerr":
			fmt.Fprintln(errw, rest)
		case "warn":
			r.emit(sdk.NewMessage(sdk.Warning, rest))
		case "verbose":
			r.emit(sdk.NewMessage(sdk.Verbose, rest))
		case "debug":
			r.emit(sdk.NewMessage(sdk.Debug, rest))
		case "info":
			r.emit(sdk.NewInformation(rest, &sdk.InformationDetail{Tags: []string{"fake"}}))
		case "output":
			if len(f) < 3 {
				end(&sdk.Done{State: sdk.Failed, ExitCode: 2, Reason: "output needs TYPE VALUE"})
				return
			}
			r.emit(sdk.NewOutput(strings.Join(f[2:], " "), f[1]))
		case "progress":
			pct, _ := strconv.Atoi(f[min(1, len(f)-1)])
			r.emit(sdk.NewProgress(&sdk.ProgressDetail{ActivityId: 1, ParentId: -1, Percent: int32(pct), Activity: strings.Join(f[min(2, len(f)):], " ")}))
		case "lines":
			n, _ := strconv.Atoi(f[min(1, len(f)-1)])
			prefix := ""
			if len(f) > 2 {
				prefix = f[2]
			}
			writeLines(out, n, func(i int) string { return prefix + strconv.Itoa(i) })
		case "seqw":
			n, _ := strconv.Atoi(f[min(1, len(f)-1)])
			w, _ := strconv.Atoi(f[min(2, len(f)-1)])
			writeLines(out, n, func(i int) string { return fmt.Sprintf("%0*d", w, i) })
		case "args":
			fmt.Fprintln(out, "args: "+strings.Join(r.job.Args, " "))
		case "cat":
			_, _ = out.Write(r.job.Input)
		case "wait":
			r.l.mu.Lock()
			g := r.l.gate(rest)
			r.l.mu.Unlock()
			if !r.block(g, false) {
				stopped()
				return
			}
		case "sleep":
			r.block(nil, false)
			stopped()
			return
		case "hang":
			r.block(nil, true)
			stopped()
			return
		case "crash":
			// As the SDK syncs before a command that may take the
			// runtime down: what was printed reaches the host first.
			_ = out.Flush()
			_ = errw.Flush()
			r.l.mu.Lock()
			deadline := time.Now().Add(10 * time.Second)
			t := time.AfterFunc(10*time.Second, func() { r.l.mu.Lock(); r.l.changed.Broadcast(); r.l.mu.Unlock() })
			for r.sent < r.seq && time.Now().Before(deadline) {
				r.l.changed.Wait()
			}
			t.Stop()
			r.proc().exitLocked()
			r.l.mu.Unlock()
			return
		case "exit":
			code, _ := strconv.Atoi(rest)
			if code == 0 {
				end(&sdk.Done{State: sdk.Completed})
			} else {
				end(&sdk.Done{State: sdk.Failed, ExitCode: int32(code), Reason: fmt.Sprintf("exit status %d", code)})
			}
			return
		default:
			fmt.Fprintf(errw, "%s: command not found\n", f[0])
			end(&sdk.Done{State: sdk.Failed, ExitCode: 127, Reason: "exit status 127"})
			return
		}
	}
	end(&sdk.Done{State: sdk.Completed})
}

// writeLines writes lines 1..n in writes of about 100 KiB, as a program
// writing to a pipe would.
func writeLines(w io.Writer, n int, line func(int) string) {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(line(i))
		b.WriteByte('\n')
		if b.Len() > 100<<10 || i == n {
			_, _ = io.WriteString(w, b.String())
			b.Reset()
		}
	}
}
