package events

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/internal/identity"
)

// DefaultTimeout bounds a hook: one that takes longer is killed, so that a
// stuck hook does not hold up the hooks of the jobs that end after it.
const DefaultTimeout = 60 * time.Second

// runHooks runs the due hooks one at a time, in the order their jobs
// ended, until Close.
func (l *Log) runHooks() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.stop
		cancel()
	}()
	for {
		select {
		case <-l.stop:
			return
		case <-l.wake:
		}
		for {
			r, ok := l.next()
			if !ok {
				break
			}
			l.run(ctx, r)
			l.mu.Lock()
			l.running = false
			l.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// next takes the first due hook and marks it started, in the file first:
// a host killed from here on does not run it again.
func (l *Log) next() (Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) > 0 && !l.closed {
		seq := l.queue[0]
		l.queue = l.queue[1:]
		r, ok := l.due[seq]
		if !ok {
			continue
		}
		delete(l.due, seq)
		l.write(Record{Ran: seq})
		l.running = true
		return r, true
	}
	return Record{}, false
}

// run runs r's hook commands. Their failure is the host log's business: it
// never touches the job.
func (l *Log) run(ctx context.Context, r Record) {
	runAs := r.Hook.RunAs
	if runAs != nil && r.Hook.User != "" {
		// The groups the user has now, as for a job (identity.Now).
		id, err := identity.Now(r.Hook.User, runAs)
		if err != nil {
			l.log.Error("a job's on-end hook was not run", "job", r.JobID, "err", err)
			return
		}
		runAs = id
	}
	for _, c := range r.Hook.Commands {
		ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
		cmd := exec.CommandContext(ctx, shell[0], append(shell[1:], c)...)
		cmd.Dir = r.Hook.Dir
		cmd.Env = append(l.baseEnv(r), hookEnv(r)...)
		var out bytes.Buffer
		cmd.Stdout = &limited{b: &out, n: 4096}
		cmd.Stderr = cmd.Stdout
		setUser(cmd, runAs)
		err := cmd.Run()
		cancel()
		switch {
		case ctx.Err() == context.DeadlineExceeded:
			l.log.Error("a job's on-end hook took too long and was killed", "job", r.JobID, "command", c,
				"timeout", l.cfg.Timeout, "output", out.String())
		case err != nil:
			l.log.Error("a job's on-end hook failed", "job", r.JobID, "command", c, "err", err, "output", out.String())
		default:
			l.log.Debug("ran a job's on-end hook", "job", r.JobID, "command", c)
		}
	}
}

// Busy reports whether a hook runs or is due: a host that exits for
// being idle would kill the one and leave the other until its next start.
func (l *Log) Busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running || len(l.queue) > 0
}

// hookEnv is what a hook is told about the job that ended.
func hookEnv(r Record) []string {
	code := ""
	if r.ExitCode != nil {
		code = strconv.Itoa(*r.ExitCode)
	}
	env := []string{
		"BGJOB_JOB_ID=" + strconv.FormatUint(r.JobID, 10),
		"BGJOB_JOB_NAME=" + r.Name,
		"BGJOB_JOB_STATE=" + string(r.To),
		"BGJOB_JOB_EXIT_CODE=" + code,
		"BGJOB_JOB_REASON=" + r.Reason,
		"BGJOB_JOB_GROUP=" + r.Group,
		"BGJOB_EVENT_SEQ=" + strconv.FormatUint(r.Seq, 10),
	}
	if r.Hook.GroupDone {
		env = append(env, "BGJOB_GROUP_DONE=1")
	}
	return env
}

// baseEnv is the environment a hook starts from: the host's own for a
// hook run as the host's user; a login's basics for another user's, who
// must not see the host's.
func (l *Log) baseEnv(r Record) []string {
	id := r.Hook.RunAs
	if id == nil || int(id.UID) == os.Getuid() {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "BGJOB_JOB_") && !strings.HasPrefix(kv, "BGJOB_GROUP_DONE=") {
				env = append(env, kv)
			}
		}
		return env
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if u, err := user.LookupId(strconv.FormatUint(uint64(id.UID), 10)); err == nil {
		env = append(env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	return env
}

// limited keeps the first n bytes written to it: enough of a hook's
// output to tell why it failed.
type limited struct {
	b *bytes.Buffer
	n int
}

func (w *limited) Write(p []byte) (int, error) {
	if rest := w.n - w.b.Len(); rest > 0 {
		w.b.Write(p[:min(len(p), rest)])
	}
	return len(p), nil
}
