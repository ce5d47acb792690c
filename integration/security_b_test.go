//go:build unix

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// secBMkfiles is a shell function that creates, under the prefix $1, a
// file by each way a job creates one: redirections (the interpreter) and
// external commands (touch, mkdir); it records the mask a command gets
// and the pid of the process that ran the job (the runtime's).
const secBMkfiles = `mkfiles() { : > "$1.trunc"; echo x >> "$1.append"; touch "$1.touch"; mkdir "$1.dir"; sh -c 'umask; echo $PPID' > "$1.child"; }
`

// secBStart runs `bgjob start ARGS...` with the file mode creation mask
// umask, as a caller with that mask would, and returns its stdout.
func secBStart(t *testing.T, h *home, umask string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", append([]string{"-c", `umask "$1" && shift && exec "$@"`, "sh", umask, bins.Bgjob, "start"}, args...)...)
	c.Env, c.Dir, c.WaitDelay = h.env, h.dir, 5*time.Second
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("umask %s; bgjob start %s: %v\nstdout:\n%s\nstderr:\n%s", umask, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Thread jobs share one runtime process. Each must create its files with
// its caller's mask, and a job's `umask 0` must make no other job's files
// world-writable, however the files are made. Fifos order the jobs: Z
// sets its mask to 0 before A and B create anything, and makes its own
// files again after theirs.
func TestThreadJobUmaskPerJob(t *testing.T) {
	h := newHome(t)
	work := filepath.Join(h.dir, "w")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"z2a", "z2b", "a2z", "b2z"} {
		if err := syscall.Mkfifo(filepath.Join(work, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The host, and so the shared runtime process, with a mask of its
	// own, none of the jobs'.
	secBStart(t, h, "002", "--name", "first", "--wait", "--", "true")

	jobs := []struct{ name, umask, script string }{
		{"Z", "022", `umask 0
mkfiles z1
echo > z2a
echo > z2b
read x < a2z
read x < b2z
mkfiles z2`},
		{"A", "077", `read x < z2a
mkfiles a
echo > a2z`},
		{"B", "027", `read x < z2b
mkfiles b
echo > b2z`},
	}
	for _, j := range jobs {
		secBStart(t, h, j.umask, "--thread", "--name", j.name, "--workdir", work, "--", secBMkfiles+j.script)
	}
	code, stdout, stderr := h.exec("", "wait", "--timeout", "60", "Z", "A", "B")
	if code != 0 {
		t.Fatalf("bgjob wait: exit status %d\n%s%s", code, stdout, stderr)
	}
	for _, j := range h.jobs("Z", "A", "B") {
		if j.State != "Completed" {
			code, out, errs := h.exec("", "receive", "--keep", j.Name)
			t.Errorf("job %s: %s (%s); receive: %d\n%s%s", j.Name, j.State, j.StateReason, code, out, errs)
		}
	}
	if t.Failed() {
		return
	}

	pids := map[string]bool{}
	for prefix, mask := range map[string]os.FileMode{"z1": 0, "z2": 0, "a": 0o077, "b": 0o027} {
		for suffix, perm := range map[string]os.FileMode{".trunc": 0o644, ".append": 0o644, ".touch": 0o666, ".dir": 0o777} {
			fi, err := os.Stat(filepath.Join(work, prefix+suffix))
			if err != nil {
				t.Error(err)
				continue
			}
			if got, want := fi.Mode().Perm(), perm&^mask; got != want {
				t.Errorf("%s%s: mode %04o, want %04o (mask %04o)", prefix, suffix, got, want, mask)
			}
		}
		b, err := os.ReadFile(filepath.Join(work, prefix+".child"))
		if err != nil {
			t.Error(err)
			continue
		}
		got, pid, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if want := fmt.Sprintf("%04o", mask); got != want {
			t.Errorf("%s: a command the job ran had the mask %s, want %s", prefix, got, want)
		}
		pids[pid] = true
	}
	// Else the jobs did not share a process, and this tested nothing.
	if len(pids) != 1 {
		t.Errorf("the thread jobs ran in the processes %v, want one", pids)
	}
}
