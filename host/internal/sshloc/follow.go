package sshloc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/task"
)

var encode = task.Encode

// stopTries is how many attempts in a row to carry a stop to a computer
// must fail before a removal takes it for unreachable (see follow).
const stopTries = 3

// reconnectMax bounds the wait between two attempts to reach a computer
// whose connection dropped.
const reconnectMax = 30 * time.Second

// follow launches child k's task there (once: its directory says whether
// it was) and follows it until it has ended, making the connection again
// whenever it drops. It reports whether k ended (false: the host closes).
func (l *Location) follow(ctx context.Context, c *sshCmd, p, k *jobs.Job) bool {
	backoff := time.Second
	for {
		l.t.Lock()
		if k.Row.State.Finished() {
			l.t.Unlock()
			return true
		}
		ch := l.kids[k.Row.ID]
		asked := ch.stops
		stop := asked > 0 || p.Row.State == api.Stopping
		fctx, cancel := context.WithCancel(ctx)
		ch.cancel = cancel
		mirror := l.mirrorPathLocked(k)
		l.t.Unlock()
		progressed, err := l.followOnce(fctx, c, p, k, ch, mirror, stop)
		cancel()
		l.t.Lock()
		ch.cancel = nil
		ended, restop := k.Row.State.Finished(), ch.stops != asked
		l.t.Unlock()
		switch {
		case ended:
			return true
		case ctx.Err() != nil:
			return false
		case restop:
			continue // again at once, carrying the stop
		}
		var se *sshError
		if err != nil && (!errors.As(err, &se) || !se.conn) {
			// The command there failed, not the connection (the job's
			// directory gone, say), or this host cannot keep the
			// records: trying again would fail again.
			l.fail(p, k, err.Error())
			return true
		}
		if progressed {
			backoff = time.Second
		}
		msg := "the connection closed"
		if err != nil {
			msg = err.Error()
		}
		l.log.Warn("lost the connection to a job's computer; connecting again", "job", k.Row.ID, "computer", c.computer, "err", msg, "in", backoff)
		l.t.Lock()
		k.Row.StateReason = "connecting again to " + c.computer + " (" + msg + ")"
		switch {
		case stop && !progressed:
			// The stop could not be carried there. After stopTries
			// such failures in a row (a few seconds, with the backoff)
			// the computer cannot be reached now, ssh's words say why,
			// and a stop for a removal stops waiting for it (Stop); any
			// other goes on trying. Not after one: a stop sends every
			// child's connection again at once, and an sshd takes only
			// so many handshakes at a time (MaxStartups), dropping the
			// rest, from a computer that is there.
			if ch.failedStops++; ch.failedStops >= stopTries {
				ch.unreachable = msg
				if se != nil && se.msg != "" {
					ch.unreachable = se.msg
				}
			}
		case progressed:
			ch.unreachable, ch.failedStops = "", 0
		}
		k.NotifyLocked()
		l.t.Unlock()
		// A stop meanwhile goes out at once; a child a removal gave up
		// on is not tried again.
		for until := time.Now().Add(backoff); time.Now().Before(until); {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(min(200*time.Millisecond, time.Until(until))):
			}
			l.t.Lock()
			restop, ended := ch.stops != asked, k.Row.State.Finished()
			l.t.Unlock()
			if restop || ended {
				break
			}
		}
		backoff = min(2*backoff, reconnectMax)
	}
}

// followScript launches the task in dir unless it was (mkdir succeeds
// once), detached from the connection (the task leads a session of its
// own, nohup keeps a hangup off it), then follows it from byte off of its
// log.
func followScript(dir, sha string, off int64, stop bool) string {
	b := "\"$HOME\"/" + quote(binary{name: "bgjobd", sha: sha}.cachePath())
	d := quote(dir)
	s := "d=" + d + "; b=" + b + "; " +
		"if mkdir \"$d/launched\" 2>/dev/null; then nohup \"$b\" remote-task -sha256 " + sha + " \"$d\" </dev/null >\"$d/" + filepath.Base(task.OutPath("", 0)) + "\" 2>&1 & " +
		"echo $! >\"$d/" + filepath.Base(task.PidPath("", 0)) + "\"; fi; " +
		"exec \"$b\" remote-task -follow " + strconv.FormatInt(off, 10)
	if stop {
		s += " -stop"
	}
	return s + " \"$d\""
}

// followOnce makes one connection: it launches the task if need be and
// takes what it streams, until its end or the connection's. It reports
// whether anything came.
func (l *Location) followOnce(ctx context.Context, c *sshCmd, p, k *jobs.Job, ch *child, mirror string, stop bool) (progressed bool, err error) {
	sha, err := l.hostSHA()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(mirror), 0o700); err != nil {
		return false, fmt.Errorf("cannot keep the job's records: %w", err)
	}
	mf, err := os.OpenFile(mirror, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("cannot keep the job's records: %w", err)
	}
	defer mf.Close()
	off, err := mf.Seek(0, io.SeekEnd)
	if err != nil {
		return false, fmt.Errorf("cannot keep the job's records: %w", err)
	}
	l.t.Lock()
	dir := k.Row.SSH.RemoteDir
	l.t.Unlock()
	cmd := exec.CommandContext(ctx, l.cfg.SSH, c.d.args(l.muxOptions(c.d), followScript(dir, sha, off, stop))...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	if err := cmd.Start(); err != nil {
		return false, c.failed(ctx, "cannot follow the job", err, "", 0)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for {
		kind, data, rerr := task.ReadFrame(out)
		if rerr != nil {
			_ = cmd.Process.Kill() // a stream cut off: the rest is not wanted
			werr := cmd.Wait()
			if werr == nil {
				werr = errors.New("the stream ended early")
			}
			return progressed, c.failed(ctx, "lost the job", werr, errOut.String(), 0)
		}
		if !progressed {
			// Connected again: the reason said it was not.
			l.t.Lock()
			if k.Row.State == api.Running && k.Row.StateReason != "" {
				k.Row.StateReason = ""
				k.NotifyLocked()
			}
			l.t.Unlock()
		}
		progressed = true
		switch kind {
		case task.FrameStarted:
		case task.FrameLog:
			if _, err := mf.Write(data); err != nil {
				return progressed, fmt.Errorf("cannot keep the job's records in %s: %w", mirror, err)
			}
			if err := remote.Tail(l.t, k, mirror, &ch.cur); err != nil {
				return progressed, fmt.Errorf("the host cannot store the job's records: %w", err)
			}
		case task.FrameDone:
			var e task.Ended
			if err := json.Unmarshal(data, &e); err != nil {
				return progressed, fmt.Errorf("the task's end is damaged: %w", err)
			}
			if err := remote.Tail(l.t, k, mirror, &ch.cur); err != nil {
				return progressed, fmt.Errorf("the host cannot store the job's records: %w", err)
			}
			state := api.State(e.State)
			if !state.Finished() {
				state = api.Failed
			}
			l.end(p, k, state, e.Reason, e.ExitCode)
			return progressed, nil
		case task.FrameLost:
			l.end(p, k, api.Failed, string(data), nil)
			return progressed, nil
		}
	}
}

// end ends child k and settles p.
func (l *Location) end(p, k *jobs.Job, state api.State, reason string, code *int) {
	l.t.Lock()
	if !k.Row.State.Finished() {
		l.t.FinishLocked(k, state, reason, code)
		l.t.ScheduleLocked()
	}
	l.t.Unlock()
	l.t.Persist(k)
	l.settle(p)
}
