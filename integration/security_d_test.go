//go:build linux

package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Security of the system host, part D: what a start names (its script
// files, the user it runs as). The tests run
// as root, as CI does, with real users, and skip otherwise.

// A job's script file (--literal-path, --file, --init-file) is read by
// the system host as the job's user: read as root, any user had any file
// on the machine as their job's script (/etc/shadow, printed back by the
// shell's "command not found" lines and by restart --edit), and --file's
// pattern listed folders they may not read.
func TestSystemHostReadsScriptFilesAsUser(t *testing.T) {
	needRoot(t)
	mal := createUser(t, "bgjd-mal", "bgjd-grp")
	s := startSystemHost(t, "/nonexistent/bgjob-auth", "")

	// Root's secret, in root's own folder.
	secret := filepath.Join(s.private, "secret.sh")
	if err := os.WriteFile(secret, []byte("echo ROOT-SECRET-LINE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--literal-path", secret},
		{"--file", secret},
		{"--file", filepath.Join(s.private, "*")},
		{"--init-file", secret, "--", "echo hi"},
	} {
		r := s.as(mal, 0o022, "", append([]string{"start", "-o", "json"}, args...)...)
		if r.code == 0 {
			t.Errorf("start %q as %s: root's file was read for the user:\n%v", args, mal.name, r)
			continue
		}
		if strings.Contains(r.stderr, "secret.sh") && strings.Contains(args[1], "*") {
			t.Errorf("start %q as %s names what is in a folder only root may read:\n%v", args, mal.name, r)
		}
	}
	// A working directory in root's folder: the same answer whether
	// it is there, a file or nothing, all as the user sees it.
	if err := os.Mkdir(filepath.Join(s.private, "a-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	var answers []string
	for _, wd := range []string{"a-dir", "secret.sh", "nothing"} {
		path := filepath.Join(s.private, wd)
		r := s.as(mal, 0o022, "", "start", "--workdir", path, "--", "true")
		if r.code == 0 {
			t.Fatalf("start --workdir %s as %s: %v", wd, mal.name, r)
		}
		answers = append(answers, strings.ReplaceAll(r.stderr, path, "PATH"))
	}
	if answers[0] != answers[1] || answers[1] != answers[2] {
		t.Errorf("a working directory in a folder %s may not read is told apart by what is there:\n%s", mal.name, strings.Join(answers, ""))
	}
	if js := s.jobs(mal); len(js) != 0 {
		t.Errorf("%s has jobs made from root's file: %+v", mal.name, js)
	}

	// What the user may read is read: a file of their group's that
	// others may not read (their supplementary groups count), through
	// a folder they may enter.
	shared := filepath.Join(s.dir, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(shared, "group.sh")
	if err := os.WriteFile(theirs, []byte("echo GROUP-LINE\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "chgrp", "bgjd-grp", theirs)
	id := s.startJob(mal, 0o022, "", "--literal-path", theirs)
	if out := s.output(mal, id); len(out) != 1 || out[0] != "GROUP-LINE" {
		t.Errorf("the group's script ran as %q, want GROUP-LINE", out)
	}
	// The caller's access reads, whoever the job runs as: root's start of
	// a job as the user, from root's own file, reads it as root.
	r := s.as(nil, 0o022, "", "start", "-o", "json", "--credential", mal.name, "--literal-path", secret)
	if r.code != 0 {
		t.Fatalf("root's start --credential %s --literal-path (root's file): %v", mal.name, r)
	}
	var j sysJob
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatal(err)
	}
	if out := s.output(nil, j.ID); len(out) != 1 || out[0] != "ROOT-SECRET-LINE" {
		t.Errorf("root's script, run as %s, printed %q; want ROOT-SECRET-LINE", mal.name, out)
	}
}

// A job runs with its user's groups as they are when it runs, not as they
// were when it was started: a job queued for later (--delay, --at, --after,
// a retry) kept the supplementary groups of its start, so a user taken out
// of a group by root still had that group's access in every job they had
// queued before.
func TestSystemHostJobGroupsWhenItRuns(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("gpasswd"); err != nil {
		t.Skip("needs gpasswd")
	}
	mal := createUser(t, "bgjd-grpu", "bgjd-grp2")
	grp, err := user.LookupGroup("bgjd-grp2")
	if err != nil {
		t.Fatal(err)
	}
	s := startSystemHost(t, "/nonexistent/bgjob-auth", "")
	id := s.startJob(mal, 0o022, "", "--delay", "3s", "--on-end", "id -G > hook.groups", "--", "id -G")
	mustRun(t, "", "gpasswd", "-d", mal.name, "bgjd-grp2")
	out := s.output(mal, id)
	if len(out) != 1 || slices.Contains(strings.Fields(out[0]), grp.Gid) {
		t.Errorf("the job ran with groups %q; the user left group %s (gid %s) before it ran", out, grp.Name, grp.Gid)
	}
	// Its on-end hook too, which runs as the job's user in its working
	// directory (the user's home here).
	hookOut := filepath.Join(mal.home, "hook.groups")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(hookOut)
		if err == nil && len(b) > 0 {
			if slices.Contains(strings.Fields(string(b)), grp.Gid) {
				t.Errorf("the on-end hook ran with groups %q; the user left group %s (gid %s) before it ran", b, grp.Name, grp.Gid)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the on-end hook wrote nothing to %s within 20s: %v", hookOut, err)
		}
	}
}

// A working directory the user cannot enter is refused by their own host
// before the job exists (exit 2), as the README promises for a bad
// working directory: before, the job was made and failed as it started.
func TestOwnHostRefusesWorkdirUserCannotEnter(t *testing.T) {
	needRoot(t)
	u := createUser(t, "bgjd-wd", "")
	cat := publicCatalog(t)
	closed := filepath.Join(cat, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil { // root's, entered by root alone
		t.Fatal(err)
	}
	for _, d := range []string{bins.Dir, bins.BinDir} { // for the user to run them
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home := filepath.Join(u.home, "state")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bins.Bgjob, args...)
		cmd.Dir = u.home
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}}
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + u.home, "BGJOB_HOME=" + home, "BGJOB_RUNTIMES=" + cat}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("bgjob %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	t.Cleanup(func() { run("host", "stop") })
	code, out := run("start", "--wait", "--workdir", closed, "--", "pwd")
	if code != 2 || !strings.Contains(out, "cannot enter the working directory "+closed) {
		t.Errorf("start --workdir %s (root's, 0700) as %s: exit %d, %q; want exit 2, cannot enter", closed, u.name, code, out)
	}
	if code, out := run("get"); code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("after the refused start, get: exit %d, %q; want no job", code, out)
	}
	// An edit is held to the same: a queued job moved there is refused.
	if code, out := run("start", "--name", "later", "--delay", "1h", "--", "pwd"); code != 0 {
		t.Fatalf("start --delay 1h as %s: exit %d, %q", u.name, code, out)
	}
	code, out = run("edit", "later", "--workdir", closed)
	if code != 2 || !strings.Contains(out, "cannot enter the working directory "+closed) {
		t.Errorf("edit --workdir %s as %s: exit %d, %q; want exit 2, cannot enter", closed, u.name, code, out)
	}
	run("remove", "--force", "later")
	if code, out := run("start", "--wait", "--", "echo ok"); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Errorf("start --wait in the user's home: exit %d, %q", code, out)
	}
}
