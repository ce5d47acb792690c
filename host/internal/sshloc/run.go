package sshloc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
)

// A child job over SSH goes through these steps, driven by a goroutine of
// its own (driveLocked) until it has ended:
//
//  1. it waits for one of its parent's connections (--throttle-limit);
//  2. unless launched: one ssh asks the computer what it is, which of
//     bgjobd and the runtime its cache has, and writes the job's files
//     there; missing binaries are copied (one ssh each), then the host
//     records that it launches the task;
//  3. one ssh launches the task if its directory says it has not been
//     (`mkdir launched` succeeds once) and, in the same connection, follows
//     it; a dropped connection is made again, from the last byte held.

// driveLocked starts driving child k of p, unless something drives it.
func (l *Location) driveLocked(p, k *jobs.Job) {
	if _, ok := l.kids[k.Row.ID]; ok || k.Row.State.Finished() {
		return
	}
	l.kids[k.Row.ID] = &child{}
	l.t.Go(func() {
		l.drive(p, k)
		l.t.Lock()
		delete(l.kids, k.Row.ID)
		// One that ended without a connection held back those after it.
		l.passLocked(p)
		l.t.Unlock()
	})
}

// drive takes child k of p through its steps, until it has ended or the
// host closes.
func (l *Location) drive(p, k *jobs.Job) {
	ctx := l.t.Ctx()
	l.t.Lock()
	computer, launched := k.Row.SSH.Computer, k.Row.SSH.Launched
	l.t.Unlock()
	d, err := parseComputer(computer)
	if err != nil {
		l.fail(p, k, err.Error())
		return
	}
	c := &sshCmd{l: l, computer: computer, d: d}
	if !l.acquire(ctx, p, k, launched) {
		return
	}
	defer l.release(p)
	if !launched {
		if err := l.prepare(ctx, c, p, k); err != nil {
			if ctx.Err() == nil {
				l.fail(p, k, err.Error())
				// What it wrote there goes, if it could be reached.
				if se := (*sshError)(nil); !errors.As(err, &se) || !se.conn {
					l.cleanup(c, k)
				}
			}
			return
		}
		// The launch is recorded before it happens: a host that dies
		// from here on follows the task rather than launching another.
		l.t.Lock()
		if l.kids[k.Row.ID].stops > 0 || p.Row.State == api.Stopping || k.Row.State.Finished() {
			if !k.Row.State.Finished() {
				l.t.FinishLocked(k, api.Stopped, "stopped before it started", nil)
			}
			l.t.Unlock()
			l.t.Persist(k)
			l.settle(p)
			l.cleanup(c, k)
			return
		}
		k.Row.SSH.Launched = true
		l.t.MoveLocked(k, api.Running)
		now := time.Now()
		k.Row.PSBeginTime, k.Row.StateReason = &now, ""
		l.t.Unlock()
		l.t.Persist(k)
		l.settle(p)
	}
	if l.follow(ctx, c, p, k) {
		l.cleanup(c, k)
	}
}

// acquire waits for a connection of p's for k (a child launched already
// takes one at once: it runs there whatever the limit), and reports
// whether k should go on (false: it was stopped meanwhile, or the host
// closes).
//
// A waiting child sleeps until the connection it waits for may be free:
// a release, or an earlier child leaving without one, wakes the first
// child waiting (passLocked), and a child that takes one wakes the next if
// there is room still. (It used to look again every 100 ms, each looking
// through all its siblings: a freed connection stood idle up to 100 ms,
// and a fan-out to 1,000 computers cost a million checks a tick.)
func (l *Location) acquire(ctx context.Context, p, k *jobs.Job, launched bool) bool {
	l.t.Lock()
	defer l.t.Unlock()
	c := l.kids[k.Row.ID]
	if c == nil {
		c = &child{} // not driven (tests): waits all the same
	}
	for waited := false; ; waited = true {
		if k.Row.State.Finished() || ctx.Err() != nil {
			return false
		}
		limit := max(p.Row.SSH.Throttle, 1)
		if launched || l.busy[p.Row.ID] < limit && !l.earlierWaitingLocked(p, k) {
			l.busy[p.Row.ID]++
			c.connected = true
			if waited || k.Row.StateReason != "" {
				k.Row.StateReason = "connecting to " + k.Row.SSH.Computer
				k.NotifyLocked()
			}
			l.passLocked(p)
			return true
		}
		if !waited {
			k.Row.StateReason = fmt.Sprintf("waiting for a connection: %d of %d computers are connected (--throttle-limit)", l.busy[p.Row.ID], limit)
			k.NotifyLocked()
		}
		wake, changed := make(chan struct{}), k.Changed
		c.wake = wake
		l.t.Unlock()
		select {
		case <-ctx.Done():
		case <-wake:
		case <-changed: // stopped, say
		}
		l.t.Lock()
		c.wake = nil
	}
}

// passLocked wakes the first of p's children still without a connection,
// if one may be free for it: it takes it, or waits again.
func (l *Location) passLocked(p *jobs.Job) {
	if l.busy[p.Row.ID] >= max(p.Row.SSH.Throttle, 1) {
		return
	}
	for _, s := range p.Children {
		c := l.waitingLocked(s)
		if c == nil {
			continue
		}
		if c.wake != nil {
			close(c.wake)
			c.wake = nil
		}
		return // the first: the others wait for it (earlierWaitingLocked)
	}
}

// waitingLocked is what the location holds for child s if s is driven and
// still waits for a connection (nil otherwise).
func (l *Location) waitingLocked(s *jobs.Job) *child {
	if c := l.kids[s.Row.ID]; c != nil && !c.connected && !s.Row.State.Finished() {
		return c
	}
	return nil
}

// earlierWaitingLocked reports whether a child of p before k (in the
// order of --computer-name) is still waiting for a connection: the
// children take them in that order, as Invoke-Command -ThrottleLimit works
// through its computers, rather than whichever goroutine comes first.
func (l *Location) earlierWaitingLocked(p, k *jobs.Job) bool {
	for _, s := range p.Children {
		if s == k {
			return false
		}
		if l.waitingLocked(s) != nil {
			return true
		}
	}
	return false
}

// release gives back a connection acquire took.
func (l *Location) release(p *jobs.Job) {
	l.t.Lock()
	if l.busy[p.Row.ID]--; l.busy[p.Row.ID] <= 0 {
		delete(l.busy, p.Row.ID)
	}
	l.passLocked(p)
	l.t.Unlock()
}

// binary is a file copied to a computer's cache.
type binary struct {
	local, name, sha string
}

// cachePath is where b is there, relative to the home there.
func (b binary) cachePath() string { return path.Join(remoteRuntimes, b.sha, b.name) }

// prepare asks the computer what it is, copies what its cache lacks and
// writes the job's files there.
func (l *Location) prepare(ctx context.Context, c *sshCmd, p, k *jobs.Job) error {
	hostSHA, err := l.hostSHA()
	if err != nil {
		return fmt.Errorf("cannot read bgjobd (%s) to copy it to %s: %w", l.cfg.HostBinary, c.computer, err)
	}
	l.t.Lock()
	rtPath, rtSHA, dir := p.Row.Spec.Runtime, p.Row.Spec.SHA256, k.Row.SSH.RemoteDir
	l.t.Unlock()
	bins := []binary{{l.cfg.HostBinary, "bgjobd", hostSHA}, {rtPath, filepath.Base(rtPath), rtSHA}}
	spec, payload, err := l.spec(p, k)
	if err != nil {
		return err
	}
	specJSON, payloadBytes, err := encode(spec, payload)
	if err != nil {
		return err
	}
	// What the computer is, which binaries its cache has (verified by
	// their hash where it has a tool for it; the task checks its own and
	// the runtime's hash in any case), and the job's files: the spec a
	// line, the payload the rest of the input.
	var sb strings.Builder
	sb.WriteString("umask 077; uname -sm || exit 1; ")
	for _, b := range bins {
		fmt.Fprintf(&sb, "f=%s; if [ -f \"$f\" ] && { s=$( (sha256sum || shasum -a 256) <\"$f\" 2>/dev/null); s=${s%%%% *}; [ -z \"$s\" ] || [ \"$s\" = %s ]; }; then echo have; else echo need; fi; ",
			quote(b.cachePath()), b.sha)
	}
	fmt.Fprintf(&sb, "d=%s; mkdir -p \"$d\" && IFS= read -r spec && printf '%%s\\n' \"$spec\" >\"$d/job.json\" && cat >\"$d/payload\" && echo ready", quote(dir))
	in := io.MultiReader(bytes.NewReader(specJSON), strings.NewReader("\n"), bytes.NewReader(payloadBytes))
	out, err := c.run(ctx, "cannot prepare the job", sb.String(), in, 2*time.Minute)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2+len(bins) || lines[len(lines)-1] != "ready" {
		return fmt.Errorf("cannot prepare the job on %s: it answered %q (does its login shell print something?)", c.computer, strings.TrimSpace(out))
	}
	goos, goarch, ok := goPlatform(lines[0])
	if !ok || goos != runtime.GOOS || goarch != runtime.GOARCH {
		return fmt.Errorf("cannot run the job on %s: it is %s (uname -sm), and this host has bgjobd for %s/%s only (bgjob copies its own bgjobd there)", c.computer, strings.TrimSpace(lines[0]), runtime.GOOS, runtime.GOARCH)
	}
	for i, b := range bins {
		if lines[1+i] == "need" {
			if err := l.upload(ctx, c, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// upload copies b into the computer's cache: under a name of its own
// first, checked (where the computer has sha256sum or shasum), then
// renamed into place, so that a copy cut off is never taken for whole.
func (l *Location) upload(ctx context.Context, c *sshCmd, b binary) error {
	f, err := os.Open(b.local)
	if err != nil {
		return fmt.Errorf("cannot copy %s to %s: %w", b.local, c.computer, err)
	}
	defer f.Close()
	dst := b.cachePath()
	script := fmt.Sprintf("umask 077; f=%s; t=\"$f.$$.tmp\"; mkdir -p \"${f%%/*}\" && cat >\"$t\" && chmod 700 \"$t\" && "+
		"s=$( (sha256sum || shasum -a 256) <\"$t\" 2>/dev/null); s=${s%%%% *}; "+
		"if [ -n \"$s\" ] && [ \"$s\" != %s ]; then rm -f \"$t\"; echo \"the copy of %s there has SHA-256 $s, not %s\" >&2; exit 1; fi; mv -f \"$t\" \"$f\"",
		quote(dst), b.sha, b.name, b.sha)
	l.log.Debug("copying a binary to a computer", "computer", c.computer, "binary", b.local)
	_, err = c.run(ctx, "cannot copy "+b.name+" to ~/"+dst, script, bufio.NewReaderSize(f, 1<<20), 10*time.Minute)
	return err
}

// hostSHA is bgjobd's SHA-256, read once.
func (l *Location) hostSHA() (string, error) {
	l.shaOnce.Do(func() {
		f, err := os.Open(l.cfg.HostBinary)
		if err != nil {
			l.shaErr = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			l.shaErr = err
			return
		}
		l.sha = hex.EncodeToString(h.Sum(nil))
	})
	return l.sha, l.shaErr
}

// fail ends child k as Failed with reason, and settles p.
func (l *Location) fail(p, k *jobs.Job, reason string) {
	l.t.Lock()
	if !k.Row.State.Finished() {
		l.t.FinishLocked(k, api.Failed, reason, nil)
	}
	l.t.Unlock()
	l.t.Persist(k)
	l.settle(p)
}

// cleanup removes a finished child's files there and the host's copy of
// its log (its records are in the child's own log now). Best effort: what
// a computer that cannot be reached keeps is small. The files of a child
// a removal gave up on stay there: its task may still run, and its
// directory is how the user stops it (see Stop).
func (l *Location) cleanup(c *sshCmd, k *jobs.Job) {
	l.t.Lock()
	dir, finished, mirror := k.Row.SSH.RemoteDir, k.Row.State.Finished(), l.mirrorPathLocked(k)
	abandoned := l.kids[k.Row.ID] != nil && l.kids[k.Row.ID].abandoned
	l.t.Unlock()
	if !finished {
		return
	}
	os.Remove(mirror)
	if abandoned {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.run(ctx, "cannot remove the job's directory", "rm -rf "+quote(dir), nil, 0); err != nil {
		l.log.Warn("cannot remove a job's directory on a computer", "computer", c.computer, "err", err)
	}
}

// mirrorPathLocked is the host's copy of child k's task log.
func (l *Location) mirrorPathLocked(k *jobs.Job) string {
	p := l.t.GetLocked(k.Row.Parent)
	if p == nil || p.Row.SSH == nil {
		return filepath.Join(l.cfg.Dir, k.Row.InstanceID+".log")
	}
	return filepath.Join(p.Row.SSH.Dir, k.Row.InstanceID+".log")
}

// allFinishedLocked reports whether all of p's children have ended.
func allFinishedLocked(p *jobs.Job) bool {
	for _, k := range p.Children {
		if !k.Row.State.Finished() {
			return false
		}
	}
	return true
}

// settle sets p's state from its children's: Running once one is,
// finished once they all are (Failed if one failed, else Stopped if one
// was stopped, else Completed).
func (l *Location) settle(p *jobs.Job) {
	l.t.Lock()
	if p.Row.State.Finished() {
		l.t.Unlock()
		return
	}
	before := p.Row.State
	anyRunning := false
	for _, k := range p.Children {
		anyRunning = anyRunning || k.Row.State == api.Running || k.Row.State == api.Stopping
		if b := k.Row.PSBeginTime; b != nil && (p.Row.PSBeginTime == nil || b.Before(*p.Row.PSBeginTime)) {
			t := *b
			p.Row.PSBeginTime = &t
		}
	}
	switch {
	case allFinishedLocked(p):
		l.t.FinishParentLocked(p)
	case anyRunning && p.Row.State == api.NotStarted:
		l.t.MoveLocked(p, api.Running)
	}
	changed := p.Row.State != before
	if changed {
		p.NotifyLocked()
	}
	l.t.Unlock()
	if changed {
		l.t.Persist(p)
	}
}

// shaCache is bgjobd's SHA-256, read once (hostSHA).
type shaCache struct {
	shaOnce sync.Once
	sha     string
	shaErr  error
}
