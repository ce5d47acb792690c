//go:build linux

package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// On a terminal (a pseudo-terminal here, as a user's), start --wait draws
// the job's progress as a bar, redrawn in place and cleared when the
// activity completes; colours its warnings and errors; and ends a failed
// job with its reason. In a pipe, none of that is drawn.
func TestProgressOnTerminal(t *testing.T) {
	h := newHome(t)
	script := `echo begin; for i in 1 2 3 4; do write-progress --percent $((i*25)) --status "step $i" Copying; sleep 0.3; done; write-progress --completed Copying; echo end; write-warning careful; exit 4`

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := h.cmd(ctx, "start", "--wait", "--", script)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, _ = io.Copy(&out, tty) // until the CLI exits and the pty closes
	err = cmd.Wait()
	tty.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Errorf("start --wait on a terminal: %v, want exit status 4 (the job's)", err)
	}
	s := out.String()
	for _, want := range []string{
		"Copying",                         // the activity, as a bar's label
		"[====",                           // the bar
		" 50%  step 2",                    // percent and status
		"\x1b[1A\x1b[J",                   // redrawn in place (up a line, erase)
		"\x1b[33mWARNING: careful\x1b[0m", // yellow
		"\x1b[31mbgjob: job 1 (Job1) failed: exit status 4", // red, with the reason
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the terminal did not show %q:\n%q", want, s)
		}
	}
	// Cleared when completed: after the last bar is erased, only text
	// follows.
	last := strings.LastIndex(s, "\x1b[1A\x1b[J")
	if last < 0 || strings.Contains(s[last:], "[====") || !strings.Contains(s[last:], "end") {
		t.Errorf("the bar was not cleared before the job's last lines:\n%q", s)
	}

	// In a pipe: plain text, no bar, no colour.
	pipe := h.cmd(ctx, "start", "--wait", "--", script)
	var stdout, stderr bytes.Buffer
	pipe.Stdout, pipe.Stderr = &stdout, &stderr
	_ = pipe.Run()
	if got := stdout.String() + stderr.String(); strings.Contains(got, "\x1b") || strings.Contains(got, "[====") || !strings.Contains(got, "end") {
		t.Errorf("in a pipe: %q", got)
	}
}
