//go:build linux

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// shell runs script with bash in h's directory and environment, and returns
// its exit code and combined output. A script still running after timeout
// is killed, and reported as exit -1.
func (h *home) shell(timeout time.Duration, script string) (int, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env, cmd.Dir = h.env, h.dir
	// A process the script left behind holding the output pipe must not
	// keep the test waiting.
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return -1, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	case err != nil:
		h.t.Fatalf("bash -c %q: %v", script, err)
	}
	return 0, out.String()
}

// hostFDs lists the host's open descriptors as number -> target.
func hostFDs(t *testing.T, pid int) map[string]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			fds[e.Name()] = l
		}
	}
	return fds
}

// checkHostFDs: the host holds stdin on /dev/null, stdout and stderr on
// its log, and otherwise only what it opened itself: its home's files,
// sockets, pipes to its runtimes, Go's runtime's own files and /dev/null
// (os/exec opens it for a child's standard input while starting it); and
// never the file the caller held (lock).
func checkHostFDs(t *testing.T, h *home, pid int, lock string) {
	t.Helper()
	fds := hostFDs(t, pid)
	log := filepath.Join(h.path, "host.log")
	if fds["0"] != os.DevNull || fds["1"] != log || fds["2"] != log {
		t.Errorf("the host's 0, 1, 2 are %q, %q, %q; want %s and its log twice", fds["0"], fds["1"], fds["2"], os.DevNull)
	}
	for fd, target := range fds {
		switch {
		case target == lock:
			t.Errorf("the host holds the caller's lock file %s as fd %s", lock, fd)
		case fd == "0" || fd == "1" || fd == "2", under(target, h.path), under(target, catalogDir),
			strings.HasPrefix(target, "socket:"), strings.HasPrefix(target, "pipe:"), strings.HasPrefix(target, "anon_inode:"),
			strings.HasPrefix(target, "/sys/fs/cgroup/"), // Go's runtime reads its CPU limit there
			target == os.DevNull:
		default:
			t.Errorf("the host holds fd %s on %s, which it did not open", fd, target)
		}
	}
}

// A host started on demand by the CLI inherits none of the caller's
// descriptors, nor do its runtimes and jobs: a lock the caller held is
// released when the caller ends, a pipe is closed when the caller's end
// is. The same for a host run in the foreground with `bgjob host`.
func TestSecAInheritedDescriptors(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("needs flock(1) (util-linux)")
	}
	h := newHome(t)
	lock := filepath.Join(h.dir, "lk")

	t.Run("lock", func(t *testing.T) {
		defer stopHost(h.path)
		// The job lists what its command got: ls's own directory is
		// the 3.
		script := `(flock -n 9 && bgjob start --wait -- 'ls /proc/self/fd | tr "\n" " "') 9>lk`
		code, out := h.shell(time.Minute, script)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", script, code, out)
		}
		if got := strings.TrimSpace(out); got != "0 1 2 3" {
			t.Errorf("the job's command had descriptors %q, want 0 1 2 and ls's own 3", got)
		}
		if code, out := h.shell(time.Minute, "flock -n lk true"); code != 0 {
			t.Errorf("the lock the first caller held is still held after it ended (exit %d): the host or a runtime inherited it\n%s", code, out)
		}
		pid, ok := hostPid(h.path)
		if !ok {
			t.Fatal("no host runs after bgjob start")
		}
		checkHostFDs(t, h, pid, lock)
	})

	t.Run("pipe", func(t *testing.T) {
		defer stopHost(h.path)
		// cat ends when every writer of its pipe is closed: the CLI's
		// stdout and its copy on 7, unless the host it started keeps one.
		code, out := h.shell(30*time.Second, `bgjob get 7>&1 | cat >/dev/null; echo ended`)
		if code != 0 || !strings.Contains(out, "ended") {
			t.Errorf("bgjob get 7>&1 | cat did not end within 30s (exit %d): the host it started holds the pipe\n%s", code, out)
		}
	})

	t.Run("foreground", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", `exec 9>lk && flock -n 9 && exec bgjob host`)
		cmd.Env, cmd.Dir = h.env, h.dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		defer func() {
			stopHost(h.path)
			cancel()
			<-done
		}()
		sock := api.SocketPath(h.path)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				t.Fatalf("bgjob host ended:\n%s", out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("bgjob host did not listen within 30s:\n%s", out.String())
			}
		}
		if code, out := h.shell(time.Minute, "flock -n lk true"); code != 0 {
			t.Errorf("bgjob host, run with a lock on fd 9, still holds it (exit %d)\n%s", code, out)
		}
	})
}

// Root's own host is not the system host: it refuses --credential as any
// user's own host does, saying how to reach the system host, and creates
// no job.
func TestSecARootOwnHostRefusesCredential(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it is root's own host that must refuse (CI runs as root)")
	}
	createUsers(t)
	h := newHome(t)
	code, stdout, stderr := h.exec("", "start", "--credential", userBob, "--workdir", "/", "--", "id")
	if code != api.ExitUsage || !strings.Contains(stderr, "needs the system host") || !strings.Contains(stderr, "BGJOB_SOCKET=") {
		t.Errorf("--credential on root's own host: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d naming the system host", code, stdout, stderr, api.ExitUsage)
	}
	if code, out, _ := h.exec("", "get", "-o", "json"); code == 0 {
		var js []jobView
		if err := json.Unmarshal([]byte(out), &js); err != nil || len(js) != 0 {
			t.Errorf("the refused --credential left jobs: %s", out)
		}
	} else if code != api.ExitNotFound {
		t.Errorf("bgjob get after the refusal: exit %d", code)
	}
}

// On the system host, a user naming an unknown user with --credential gets
// the answer a wrong password for a real one gets: the same words, the
// same exit code, after the same delay. Root may still be told that the
// user does not exist.
func TestSecAUnknownUserAsWrongPassword(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates users and runs the system host (CI runs as root)")
	}
	users := createUsers(t)
	alice := users[userAlice]
	work, err := os.MkdirTemp("", "bgjauth")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	withPAM, _ := authHelpers(t, work)
	pamConf := pamConfDir(t, work)
	if withPAM == "" || pamConf == "" {
		t.Skip("needs PAM's headers (libpam0g-dev) and /etc/pam.d/common-auth for the password check; .ci/run installs them")
	}
	s := startSystemHost(t, withPAM, pamConf)

	const unknown = "bgjt-nosuch"
	attempt := func(name string) (cliResult, time.Duration) {
		start := time.Now()
		r := s.as(alice, 0o022, "not-the-password\n", "start", "--credential", name, "--password-stdin", "--", "true")
		return r, time.Since(start)
	}
	wrong, wrongTook := attempt(userBob)
	none, noneTook := attempt(unknown)
	if wrong.code != api.ExitDenied || !strings.Contains(wrong.stderr, "the password for "+userBob+" was not accepted") {
		t.Fatalf("a wrong password: %v", wrong)
	}
	if none.code != wrong.code || strings.ReplaceAll(none.stderr, unknown, "USER") != strings.ReplaceAll(wrong.stderr, userBob, "USER") {
		t.Errorf("an unknown user answered\n%v\nnot as a wrong password does:\n%v", none, wrong)
	}
	// A lower bound only: the documented cost of a failure.
	const failDelay = 2 * time.Second
	if wrongTook < failDelay || noneTook < failDelay {
		t.Errorf("a wrong password took %v, an unknown user %v: both should cost at least %v", wrongTook, noneTook, failDelay)
	}
	if js := s.jobs(nil); len(js) != 0 {
		t.Errorf("refused starts left jobs: %+v", js)
	}
	// Root reads /etc/passwd anyway: it is told plainly.
	if r := s.as(nil, 0o022, "", "start", "--credential", unknown, "--", "true"); r.code != api.ExitUsage || !strings.Contains(r.stderr, `there is no user "`+unknown+`"`) {
		t.Errorf("root's --credential of an unknown user: %v", r)
	}
}
