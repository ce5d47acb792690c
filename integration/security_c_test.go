//go:build linux

package integration

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Security of the system host, part C: what root trusts on disk. The
// tests run as root, as CI does, with real users (createUsers), and skip
// otherwise.

// needRoot skips a test that creates users and runs the system host.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates users and runs the system host as root (CI runs as root)")
	}
}

// systemHostWith is startSystemHost with its catalog at runtimes and its
// home at home ("" keeps startSystemHost's): startSystemHost's host is
// ended and its arguments changed, so that its clean-up still applies; the
// caller starts the new one (s.launch, or by hand for a start that must
// fail).
func systemHostWith(t *testing.T, runtimes, home string) *systemHost {
	t.Helper()
	s := startSystemHost(t, "/nonexistent/bgjob-auth", "")
	s.end(syscall.SIGTERM)
	for i := 0; i+1 < len(s.args); i++ {
		switch {
		case s.args[i] == "-runtimes" && runtimes != "":
			s.args[i+1] = runtimes
		case s.args[i] == "-home" && home != "":
			s.args[i+1], s.home = home, home
		}
	}
	return s
}

// createUser makes a user name (in group, if not ""), removed when the test
// ends. These tests do not use createUsers' accounts: other test runs on
// the machine remove and make those again as they start.
func createUser(t *testing.T, name, group string) *testUser {
	t.Helper()
	for _, tool := range []string{"useradd", "userdel", "groupadd", "groupdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to create test users (apt-get install passwd)", tool)
		}
	}
	remove := func() {
		_ = exec.Command("userdel", "-r", "-f", name).Run()
		if group != "" {
			_ = exec.Command("groupdel", group).Run()
		}
	}
	remove()
	t.Cleanup(remove)
	args := []string{"-m", "-s", "/bin/sh"}
	if group != "" {
		mustRun(t, "", "groupadd", group)
		args = append(args, "-G", group)
	}
	mustRun(t, "", "useradd", append(args, name)...)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	tu := &testUser{name: name, home: u.HomeDir, uid: parseID(t, u.Uid), gid: parseID(t, u.Gid)}
	gids, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gids {
		tu.groups = append(tu.groups, parseID(t, g))
	}
	return tu
}

// markerBinary builds a program that appends its uid to marker and fails:
// a user's binary that shows whether it ran. It is a real executable (not
// a script), as it must be to run from an open file (/proc/self/fd/N).
// It is built in dir, which the user must be able to read.
func markerBinary(t *testing.T, dir, marker string) string {
	t.Helper()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(`package main

import (
	"fmt"
	"os"
)

var marker string

func main() {
	if f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666); err == nil {
		fmt.Fprintln(f, os.Getuid())
		f.Close()
	}
	os.Exit(1)
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "theirs")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.marker="+marker, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the marker binary: %v\n%s", err, out)
	}
	return bin
}

// asUser runs script with /bin/sh as u, in dir.
func asUser(t *testing.T, u *testUser, dir, script string, args ...string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-ec", script, "sh"}, args...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + u.home}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as %s: %v\n%s", u.name, err, out)
	}
}

// runtimeCmd runs `bgjob runtime ARGS` as root on the catalog runtimes.
func runtimeCmd(t *testing.T, runtimes string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(bins.Bgjob, append([]string{"runtime"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/root", "BGJOB_RUNTIMES=" + runtimes}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// A runtime folder that a user may write to (here: group-writable, and
// the user is in the group) is refused by root's system host: the user
// replaced the binary and the manifest's SHA-256 together, and before
// this neither 'runtime verify' nor the host noticed, and root's host ran
// the user's binary.
func TestSystemCatalogWritableByUserRefused(t *testing.T) {
	needRoot(t)
	eve := createUser(t, "bgjc-eve", "bgjc-grp")
	cat := publicCatalog(t)
	platform := filepath.Join(cat, "shell", NewestVersion, "linux_"+runtime.GOARCH)
	if _, err := os.Stat(filepath.Join(platform, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	// The mistake: the build's folder is shared with a group eve is in.
	mustRun(t, "", "chgrp", "bgjc-grp", platform)
	if err := os.Chmod(platform, 0o775); err != nil {
		t.Fatal(err)
	}

	s := systemHostWith(t, cat, "")
	s.launch()
	// eve swaps in her own binary, and its hash into the manifest.
	marker := filepath.Join(s.pub, "swapped-binary-ran")
	theirs := markerBinary(t, s.pub, marker)
	asUser(t, eve, platform, `
		cp "$2" .new
		chmod 755 .new
		mv -f .new bgjob-shell
		sum=$(sha256sum bgjob-shell | cut -d" " -f1)
		sed "s/\"sha256\": *\"[0-9a-f]*\"/\"sha256\": \"$sum\"/" manifest.json > .m
		mv -f .m manifest.json
		grep -q "$sum" manifest.json`, marker, theirs)

	r := s.as(eve, 0o022, "", "start", "-o", "json", "--", "echo hello")
	if r.code == 0 {
		// Today's host: the job exists; give its runtime time to run.
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if _, err := os.Stat(marker); err == nil {
				break
			}
		}
		t.Errorf("the system host accepted a job whose runtime eve could swap: %v", r)
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("the system host ran the binary eve swapped in (as uids %q)", strings.Fields(string(b)))
	}
	if r.code != 0 && (!strings.Contains(r.stderr, platform+" ") || !strings.Contains(r.stderr, "chmod go-w")) {
		t.Errorf("the refusal does not name the folder %s and its fix: %v", platform, r)
	}
	if js := s.jobs(eve); len(js) != 0 && r.code != 0 {
		t.Errorf("a refused start left jobs: %+v", js)
	}

	// runtime verify reports the folder, rather than "ok".
	v := runtimeCmd(t, cat, "verify")
	if v.code == 0 || !strings.Contains(v.stdout+v.stderr, platform+" ") || strings.Contains(v.stdout, "ok ") {
		t.Errorf("runtime verify did not refuse the entry in %s: %v", platform, v)
	}
	// runtime list shows it refused, not left out.
	l := runtimeCmd(t, cat, "list")
	if !strings.Contains(l.stdout, "refused") || !strings.Contains(l.stdout, platform) {
		t.Errorf("runtime list does not show the entry in %s refused: %v", platform, l)
	}
}

// The system host's home inside a folder another user owns is refused
// before anything is written there: that user could rename the home away
// and put one of their own (its jobs/N.log links to root's files) in its
// place, and root's host would write through the links.
func TestSystemHomeInUsersFolderRefused(t *testing.T) {
	needRoot(t)
	mallory := createUser(t, "bgjc-mallory", "")
	theirs, err := os.MkdirTemp("", "bgjhome")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(theirs) })
	if err := os.Chown(theirs, int(mallory.uid), int(mallory.gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	// Root's home itself is as it should be: root's, private.
	home := filepath.Join(theirs, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}

	s := systemHostWith(t, "", home)
	cmd := exec.Command(bins.Bgjobd, s.args...)
	cmd.Dir = s.dir
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the system host started with its home in %s, a folder of %s:\n%s", theirs, mallory.name, out)
	}
	if err == nil || !strings.Contains(string(out), "folder "+theirs+",") || !strings.Contains(string(out), "chown") {
		t.Errorf("bgjobd with its home in %s (%s's): %v\n%s\nwant a refusal naming %s and its fix", theirs, mallory.name, err, out, theirs)
	}
	if des, _ := os.ReadDir(home); len(des) != 0 {
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		t.Errorf("the refused host wrote into its home: %v", names)
	}
}

// publicCatalog is a runtime catalog of root's that every user may read,
// with the newest shell runtime installed, removed when t ends.
func publicCatalog(t *testing.T) string {
	t.Helper()
	cat, err := os.MkdirTemp("", "bgjcat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cat) })
	if err := os.Chmod(cat, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := bins.InstallRuntimes(cat, NewestVersion); err != nil {
		t.Fatal(err)
	}
	return cat
}
