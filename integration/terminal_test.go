//go:build linux

package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// On a terminal `get` fits the job table to the terminal's width, whatever
// it is: at 120, 80 and 40 columns every line fits, columns are cut or
// dropped in the README's order (Id, Name and State stay), and a waiting
// job says what for. -o wide cuts nothing, however narrow the terminal.
func TestTableOnTerminal(t *testing.T) {
	h := newHome(t)
	long := "nightly-backup-of-the-production-database-to-offsite-storage"
	gate := filepath.Join(h.dir, "open")
	h.run("start", "--name", long, "--", "while [ ! -e "+gate+" ]; do sleep 0.1; done; pg_dump --format=custom --file=/backups/prod.dump production")
	h.run("start", "--name", "Upload", "--after", "1", "--", "aws s3 cp /backups/prod.dump s3://a-bucket-with-a-long-name/backups/")

	tests := []struct {
		cols int
		head []string
	}{
		{120, []string{"Id", "Name", "State", "Location", "Command"}},
		{80, []string{"Id", "Name", "State", "Location", "Command"}},
		{40, []string{"Id", "Name", "State"}},
	}
	for _, tt := range tests {
		lines := onTerminal(t, h, tt.cols, "get")
		if len(lines) != 4 {
			t.Fatalf("%d columns: %d lines, want a heading, dashes and 2 rows (no row wraps):\n%s", tt.cols, len(lines), strings.Join(lines, "\n"))
		}
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n >= tt.cols {
				t.Errorf("%d columns: a line of %d: %q", tt.cols, n, l)
			}
		}
		if got := strings.Fields(lines[0]); !slices.Equal(got, tt.head) {
			t.Errorf("%d columns: columns %q, want %q", tt.cols, got, tt.head)
		}
		if !strings.HasPrefix(lines[2], "1   nightly-") || !strings.HasPrefix(strings.Fields(lines[2])[1], "nightly-") || !strings.Contains(lines[2], " Running") {
			t.Errorf("%d columns: the first row %q", tt.cols, lines[2])
		}
		if !regexpMatch(`^2 +Upload +NotStarted \(after 1\)`, lines[3]) {
			t.Errorf("%d columns: the waiting job's row %q does not say what it waits for", tt.cols, lines[3])
		}
	}
	wide := strings.Join(onTerminal(t, h, 40, "get", "-o", "wide"), "\n")
	for _, want := range []string{long, "aws s3 cp /backups/prod.dump s3://a-bucket-with-a-long-name/backups/", "waiting for job 1 (" + long + ")"} {
		if !strings.Contains(wide, want) {
			t.Errorf("-o wide on a 40-column terminal cut %q:\n%s", want, wide)
		}
	}
}

// onTerminal runs bgjob args on a pseudo-terminal cols wide and returns
// what it printed, a line per element.
func onTerminal(t *testing.T, h *home, cols int, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := h.cmd(ctx, args...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: uint16(cols)})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, _ = io.Copy(&out, tty) // until the CLI exits and the pty closes
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bgjob %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	tty.Close()
	text := strings.ReplaceAll(out.String(), "\r\n", "\n")
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}
