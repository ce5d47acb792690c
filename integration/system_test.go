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
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// The system host's tests run as root, as CI does: they create real users
// and a group, run `bgjobd -system` on a socket of their own, and drive the
// CLI as each user (a process with that user's credentials, as a login
// would give). Everything they create is removed at the end.

// testUser is a real account the tests create.
type testUser struct {
	name, password string
	uid, gid       uint32
	groups         []uint32
	home           string
}

// Test accounts. The prefix keeps them apart from real ones; a run that
// died before its cleanup leaves them, and the next run replaces them.
const (
	userAlice = "bgjt-alice"
	userBob   = "bgjt-bob"
	userEmpty = "bgjt-empty" // has no password at all
	testGroup = "bgjt-grp"   // alice's supplementary group
)

// createUsers makes alice (in testGroup), bob and a user with an empty
// password, and removes them when the test ends.
func createUsers(t *testing.T) map[string]*testUser {
	t.Helper()
	for _, tool := range []string{"useradd", "userdel", "groupadd", "groupdel", "chpasswd", "passwd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to create test users (apt-get install passwd)", tool)
		}
	}
	remove := func() {
		for _, u := range []string{userAlice, userBob, userEmpty} {
			_ = exec.Command("userdel", "-r", "-f", u).Run()
		}
		_ = exec.Command("groupdel", testGroup).Run()
	}
	remove()
	t.Cleanup(remove)
	mustRun(t, "", "groupadd", testGroup)
	mustRun(t, "", "useradd", "-m", "-s", "/bin/bash", "-G", testGroup, userAlice)
	mustRun(t, "", "useradd", "-m", "-s", "/bin/sh", userBob)
	mustRun(t, "", "useradd", "-m", "-s", "/bin/bash", userEmpty)
	mustRun(t, userAlice+":alice-pw-1\n"+userBob+":bob-pw-2\n", "chpasswd")
	mustRun(t, "", "passwd", "-d", userEmpty)
	users := map[string]*testUser{}
	for name, pw := range map[string]string{userAlice: "alice-pw-1", userBob: "bob-pw-2", userEmpty: ""} {
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		tu := &testUser{name: name, password: pw, home: u.HomeDir}
		tu.uid, tu.gid = parseID(t, u.Uid), parseID(t, u.Gid)
		gids, err := u.GroupIds()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gids {
			tu.groups = append(tu.groups, parseID(t, g))
		}
		users[name] = tu
	}
	return users
}

func parseID(t *testing.T, s string) uint32 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return uint32(n)
}

func mustRun(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// systemHost is a `bgjobd -system` on a socket of the test's own.
type systemHost struct {
	t      *testing.T
	dir    string // root's, 0700: home, log
	socket string
	home   string
	// pub is a directory every test user may write (the jobs' meeting
	// place with the test: pid files, release files); private one only
	// root may enter.
	pub, private string
	// args start the host; cmd runs it (nil once ended), done is closed
	// when it exits; log takes its output.
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// authHelpers builds bgjob-auth twice: with PAM (cgo; "" if PAM's headers
// are missing) and without it, as a machine without them would.
func authHelpers(t *testing.T, dir string) (withPAM, withoutPAM string) {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := func(out string, cgo bool) error {
		cmd := exec.Command("go", "build", "-o", out, "./cmd/bgjob-auth")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[cgo])
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build bgjob-auth: %v\n%s", err, b)
		}
		return nil
	}
	withoutPAM = filepath.Join(dir, "nopam", "bgjob-auth")
	if err := build(withoutPAM, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/include/security/pam_appl.h"); err == nil {
		withPAM = filepath.Join(dir, "pam", "bgjob-auth")
		if err := build(withPAM, true); err != nil {
			t.Fatal(err)
		}
	}
	return withPAM, withoutPAM
}

// pamConfDir is a PAM configuration directory holding the service file
// the repository ships, beside the system's common-auth and common-account
// it includes; "" if the system has none.
func pamConfDir(t *testing.T, dir string) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "pam.d")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"common-auth", "common-account"} {
		if _, err := os.Stat(filepath.Join("/etc/pam.d", f)); err != nil {
			return ""
		}
		if err := os.Symlink(filepath.Join("/etc/pam.d", f), filepath.Join(conf, f)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "docs", "system", "pam.d", "bgjob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "bgjob"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// startSystemHost runs bgjobd -system with the password checker auth and
// the PAM configuration in pamConf, and ends it and its jobs when the test
// ends.
func startSystemHost(t *testing.T, auth, pamConf string) *systemHost {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgjsys")
	if err != nil {
		t.Fatal(err)
	}
	s := &systemHost{t: t, dir: dir, socket: filepath.Join(dir, "run", "host.sock"), home: filepath.Join(dir, "home"), pub: filepath.Join(dir, "pub"), private: filepath.Join(dir, "private")}
	if err := os.Mkdir(s.private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.pub, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.pub, 0o1777); err != nil {
		t.Fatal(err)
	}
	// The users run the CLI from where the test built it, and reach pub.
	for _, d := range []string{dir, bins.Dir, bins.BinDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.args = []string{"-system", "-socket", s.socket, "-home", s.home, "-runtimes", catalogDir, "-auth", auth,
		"-definitions", filepath.Join(dir, "definitions")}
	if pamConf != "" {
		s.args = append(s.args, "-pam-confdir", pamConf)
	}
	if s.log, err = os.Create(filepath.Join(dir, "host.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, bins.Bgjob, "remove", "--force", "*")
		c.Env = []string{"BGJOB_SOCKET=" + s.socket, "PATH=/usr/bin:/bin"}
		_ = c.Run()
		s.end(syscall.SIGTERM)
		s.log.Close()
		if t.Failed() {
			if b, err := os.ReadFile(s.log.Name()); err == nil {
				t.Logf("system host log:\n%s", b)
			}
		}
		if pids := killRelated(dir); len(pids) > 0 {
			t.Logf("cleanup: killed leftover processes %v", pids)
		}
		os.RemoveAll(dir)
	})
	s.launch()
	return s
}

// launch starts the host and waits until it answers on its socket (a
// socket left by a killed host refuses connections until then).
func (s *systemHost) launch() {
	s.t.Helper()
	s.cmd = exec.Command(bins.Bgjobd, s.args...)
	// A secret in the host's environment must reach no job.
	s.cmd.Env = append(os.Environ(), "BGJT_HOST_SECRET=leaked")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.Dir = s.dir
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("unix", s.socket); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.log.Name())
			s.t.Fatalf("the system host did not listen within 20s:\n%s", b)
		}
	}
}

// end signals the host and waits for it to exit (SIGKILL after 10s).
func (s *systemHost) end(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// cliResult is one run of the CLI.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// as runs bgjob as u (nil: root) against the system host, from u's home
// (root: the host's private directory), with a login's environment, the
// file mode creation mask umask and stdin. It leads a session of its own,
// so it has no terminal to ask a password on.
func (s *systemHost) as(u *testUser, umask int, stdin string, args ...string) cliResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	shell := fmt.Sprintf(`umask %03o && exec "$0" "$@"`, umask)
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", shell, bins.Bgjob}, args...)...)
	name, home, dir := "root", "/root", s.dir
	attr := &syscall.SysProcAttr{Setsid: true}
	if u != nil {
		name, home, dir = u.name, u.home, u.home
		attr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
	}
	cmd.SysProcAttr = attr
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + home, "USER=" + name, "LOGNAME=" + name, "PATH=/usr/bin:/bin",
		"BGJOB_SOCKET=" + s.socket, "BGJT_CALLER_VAR=" + name}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("bgjob %s as %s: %v", strings.Join(args, " "), name, err)
	}
	return r
}

// must is as, failing the test unless bgjob succeeds.
func (s *systemHost) must(u *testUser, args ...string) string {
	s.t.Helper()
	r := s.as(u, 0o022, "", args...)
	if r.code != 0 {
		s.t.Fatalf("bgjob %s as %s: %v", strings.Join(args, " "), nameOf(u), r)
	}
	return r.stdout
}

func nameOf(u *testUser) string {
	if u == nil {
		return "root"
	}
	return u.name
}

// sysJob is what these tests read of a job's JSON on the system host.
type sysJob struct {
	ID         uint64 `json:"Id"`
	Name       string `json:"Name"`
	InstanceID string `json:"InstanceId"`
	State      string `json:"State"`
	User       string `json:"User"`
	Owner      string `json:"Owner"`
}

// jobs is u's `bgjob get -o json` of sel.
func (s *systemHost) jobs(u *testUser, sel ...string) []sysJob {
	s.t.Helper()
	out := s.must(u, append([]string{"get", "-o", "json"}, sel...)...)
	var js []sysJob
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		s.t.Fatalf("get -o json as %s: %v\n%s", nameOf(u), err, out)
	}
	return js
}

func jobIDs(js []sysJob) []uint64 {
	var ids []uint64
	for _, j := range js {
		ids = append(ids, j.ID)
	}
	slices.Sort(ids)
	return ids
}

// startJob starts script as u (nil: root) with flags, and returns its id.
func (s *systemHost) startJob(u *testUser, umask int, stdin string, args ...string) uint64 {
	s.t.Helper()
	r := s.as(u, umask, stdin, append([]string{"start", "-o", "json"}, args...)...)
	if r.code != 0 {
		s.t.Fatalf("start %q as %s: %v", args, nameOf(u), r)
	}
	var j sysJob
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		s.t.Fatalf("start -o json as %s: %v\n%s", nameOf(u), err, r.stdout)
	}
	return j.ID
}

// output waits for job id of u and returns its output lines.
func (s *systemHost) output(u *testUser, id uint64) []string {
	s.t.Helper()
	ids := strconv.FormatUint(id, 10)
	s.must(u, "wait", ids)
	out := s.must(u, "receive", "--keep", ids)
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// waitRunning waits until root sees every job of ids Running, and
// returns root's view of all jobs then.
func (s *systemHost) waitRunning(ids ...uint64) []sysJob {
	s.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		all := s.jobs(nil)
		running := 0
		for _, j := range all {
			if slices.Contains(ids, j.ID) && j.State == "Running" {
				running++
			}
		}
		if running == len(ids) {
			return all
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("jobs %v not all Running within 30s: %+v", ids, all)
		}
	}
}

// statusIDs reads the Uid, Gid and Groups lines of /proc/PID/status.
func statusIDs(t *testing.T, pid int) (uid, gid, groups string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.Join(strings.Fields(v), " ")
		switch k {
		case "Uid":
			uid = v
		case "Gid":
			gid = v
		case "Groups":
			groups = v
		}
	}
	return uid, gid, groups
}

// waitFor waits for file to hold a line and returns it.
func waitFor(t *testing.T, file string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(file); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("%s was not written within 30s", file)
	return ""
}

func groupsString(ids []uint32) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	var parts []string
	for _, g := range s {
		parts = append(parts, strconv.FormatUint(uint64(g), 10))
	}
	return strings.Join(parts, " ")
}

func sortedFields(s string) string {
	f := strings.Fields(s)
	slices.SortFunc(f, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return strings.Join(f, " ")
}

// TestSystemHost is the system host as a machine's users meet it: its
// socket, jobs run as their submitter and with --credential, every refusal,
// and each user's view of the job table.
func TestSystemHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates users and runs the system host (CI runs as root)")
	}
	users := createUsers(t)
	alice, bob := users[userAlice], users[userBob]
	work, err := os.MkdirTemp("", "bgjauth")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	withPAM, withoutPAM := authHelpers(t, work)
	pamConf := pamConfDir(t, work)
	havePAM := withPAM != "" && pamConf != ""
	auth := withPAM
	if !havePAM {
		auth = withoutPAM
	}
	s := startSystemHost(t, auth, pamConf)
	needPAM := func(t *testing.T) {
		if !havePAM {
			t.Skip("needs PAM's headers (libpam0g-dev) and /etc/pam.d/common-auth for the password check; .ci/run installs them")
		}
	}

	t.Run("socket", func(t *testing.T) {
		fi, err := os.Lstat(s.socket)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o666 {
			t.Errorf("the system socket is %v, want a socket with mode 0666 (anyone connects; the peer's uid decides)", fi.Mode())
		}
		di, err := os.Lstat(filepath.Dir(s.socket))
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o755 {
			t.Errorf("the socket's directory is %v, want 0755 (only root writes there)", di.Mode())
		}
		hi, err := os.Lstat(s.home)
		if err != nil {
			t.Fatal(err)
		}
		if hi.Mode().Perm() != 0o711 {
			t.Errorf("the system home is %v, want 0711", hi.Mode())
		}
		ji, err := os.Lstat(filepath.Join(s.home, "jobs.db"))
		if err != nil {
			t.Fatal(err)
		}
		if ji.Mode().Perm()&0o077 != 0 {
			t.Errorf("the job table is %v: other users may read it", ji.Mode())
		}
	})

	// A job runs as its submitter: uid, gid, groups, home, umask, the
	// files it makes; and its runtime process too, from the outside.
	t.Run("own user", func(t *testing.T) {
		pidFile := filepath.Join(s.pub, "own.pid")
		release := filepath.Join(s.pub, "own.go")
		script := `id -un; id -G; pwd; echo "$HOME $USER $LOGNAME $SHELL"; umask; touch made; stat -c '%U %G %a' made
echo "caller=${BGJT_CALLER_VAR-unset} host=${BGJT_HOST_SECRET-unset}"
echo $$ > "$1"; while [ ! -e "$2" ]; do sleep 0.05; done`
		id := s.startJob(alice, 0o027, "", "--arg", pidFile, "--arg", release, "--", script)
		pid, err := strconv.Atoi(waitFor(t, pidFile))
		if err != nil {
			t.Fatal(err)
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !under(exe, catalogDir) {
			t.Errorf("$$ of the job is process %d running %q, want the runtime from the catalog: %v", pid, exe, err)
		}
		u, g, groups := statusIDs(t, pid)
		wantU := strings.Repeat(fmt.Sprint(alice.uid)+" ", 4)
		wantG := strings.Repeat(fmt.Sprint(alice.gid)+" ", 4)
		if u != strings.TrimSpace(wantU) || g != strings.TrimSpace(wantG) || sortedFields(groups) != groupsString(alice.groups) {
			t.Errorf("the runtime process runs as Uid %q Gid %q Groups %q, want all %d, %d and groups %s", u, g, groups, alice.uid, alice.gid, groupsString(alice.groups))
		}
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		got := s.output(alice, id)
		want := []string{userAlice, groupsString(alice.groups), alice.home,
			alice.home + " " + userAlice + " " + userAlice + " /bin/bash",
			"0027", userAlice + " " + userAlice + " 640",
			"caller=" + userAlice + " host=unset"}
		if len(got) < 2 {
			t.Fatalf("output %q", got)
		}
		got[1] = sortedFields(got[1])
		if !slices.Equal(got, want) {
			t.Errorf("alice's job said\n%q\nwant\n%q", got, want)
		}
		if js := s.jobs(alice, strconv.FormatUint(id, 10)); len(js) != 1 || js[0].User != userAlice || js[0].Owner != userAlice {
			t.Errorf("alice's job: %+v", js)
		}
	})

	// Root runs a job as bob without a password; bob's job gets a fresh
	// environment, not root's, and the default mask.
	t.Run("credential as root", func(t *testing.T) {
		script := `id -un; id -G; echo "$HOME $USER $LOGNAME $SHELL $PATH"; umask; touch made-by-root-for-bob; stat -c '%U %a' made-by-root-for-bob; echo "caller=${BGJT_CALLER_VAR-unset} host=${BGJT_HOST_SECRET-unset}"`
		id := s.startJob(nil, 0o077, "", "--credential", userBob, "--workdir", bob.home, "--", script)
		got := s.output(nil, id)
		want := []string{userBob, groupsString(bob.groups),
			bob.home + " " + userBob + " " + userBob + " /bin/sh /usr/local/bin:/usr/bin:/bin",
			"0022", userBob + " 644", "caller=unset host=unset"}
		if !slices.Equal(got, want) {
			t.Errorf("root's job as bob said\n%q\nwant\n%q", got, want)
		}
		js := s.jobs(nil, strconv.FormatUint(id, 10))
		if len(js) != 1 || js[0].User != userBob || js[0].Owner != "root" {
			t.Errorf("root's job as bob: %+v", js)
		}
		// The job is root's: bob does not see it.
		if r := s.as(bob, 0o022, "", "get", strconv.FormatUint(id, 10)); r.code != api.ExitNotFound {
			t.Errorf("bob asked for root's job: %v", r)
		}
	})

	// Alice gives bob's password: the job runs as bob and is alice's.
	t.Run("credential with password", func(t *testing.T) {
		needPAM(t)
		id := s.startJob(alice, 0o022, bob.password+"\n", "--credential", userBob, "--password-stdin", "--authentication", "Basic", "--", `id -un; pwd; echo "$HOME"`)
		got := s.output(alice, id)
		if want := []string{userBob, alice.home, bob.home}; !slices.Equal(got, want) {
			t.Errorf("alice's job as bob said %q, want %q", got, want)
		}
		js := s.jobs(alice, strconv.FormatUint(id, 10))
		if len(js) != 1 || js[0].User != userBob || js[0].Owner != userAlice {
			t.Errorf("alice's job as bob: %+v", js)
		}
		if r := s.as(bob, 0o022, "", "get", strconv.FormatUint(id, 10)); r.code != api.ExitNotFound {
			t.Errorf("bob asked for alice's job run as him: %v", r)
		}
	})

	// Job control on the system host: a restart as another user takes
	// their password again; only root changes the queue; a user suspends
	// and resumes their own job.
	t.Run("job control", func(t *testing.T) {
		needPAM(t)
		id := s.startJob(alice, 0o022, bob.password+"\n", "--credential", userBob, "--password-stdin", "--", `id -un`)
		if got := s.output(alice, id); !slices.Equal(got, []string{userBob}) {
			t.Fatalf("alice's job as bob said %q", got)
		}
		ids := strconv.FormatUint(id, 10)
		if r := s.as(alice, 0o022, "", "restart", ids); r.code != api.ExitDenied || !strings.Contains(r.stderr, "needs "+userBob+"'s password") {
			t.Errorf("alice restarted bob's job without his password: %v", r)
		}
		if r := s.as(alice, 0o022, "not-bobs\n", "restart", "--password-stdin", ids); r.code != api.ExitDenied {
			t.Errorf("alice restarted bob's job with a wrong password: %v", r)
		}
		r := s.as(alice, 0o022, bob.password+"\n", "restart", "--password-stdin", "-o", "json", ids)
		var again []sysJob
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &again) != nil || len(again) != 1 {
			t.Fatalf("alice restarted bob's job with his password: %v", r)
		}
		if got := s.output(alice, again[0].ID); !slices.Equal(got, []string{userBob}) || again[0].User != userBob {
			t.Errorf("the restarted job ran as %s and said %q, want %s", again[0].User, got, userBob)
		}

		if r := s.as(alice, 0o022, "", "queue", "--max-running", "3"); r.code != api.ExitDenied || !strings.Contains(r.stderr, "only root changes the system host's queue") {
			t.Errorf("alice changed the system host's queue: %v", r)
		}
		if out := s.must(alice, "queue"); !strings.Contains(out, "default") {
			t.Errorf("alice's view of the queue: %q", out)
		}
		s.must(nil, "queue", "--max-running", "16")

		release := filepath.Join(s.pub, "ctl.go")
		own := s.startJob(alice, 0o022, "", "--", `while [ ! -e `+release+` ]; do sleep 0.05; done; echo done`)
		owns := strconv.FormatUint(own, 10)
		s.waitRunning(own)
		if out := s.must(alice, "suspend", "--passthru", owns); !strings.Contains(out, "Suspended") {
			t.Errorf("alice suspended her job: %q", out)
		}
		if r := s.as(bob, 0o022, "", "resume", owns); r.code != api.ExitNotFound {
			t.Errorf("bob resumed alice's job: %v", r)
		}
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		s.must(alice, "resume", owns)
		if got := s.output(alice, own); !slices.Equal(got, []string{"done"}) {
			t.Errorf("alice's resumed job said %q", got)
		}
	})

	// Each refusal names what is wrong, creates no job and leaves the
	// table as it was.
	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			pam    bool // needs the password check
			caller *testUser
			stdin  string
			args   []string
			code   int
			want   string
		}{
			{name: "wrong password", pam: true, caller: alice, stdin: "not-bobs\n",
				args: []string{"--credential", userBob, "--password-stdin"}, code: api.ExitDenied, want: "the password for " + userBob + " was not accepted"},
			{name: "another user's password", pam: true, caller: alice, stdin: alice.password + "\n",
				args: []string{"--credential", userBob, "--password-stdin"}, code: api.ExitDenied, want: "was not accepted"},
			// A user is not told which names exist: an unknown one is a
			// wrong password. Root (who reads /etc/passwd) is told.
			{name: "unknown user", pam: true, caller: alice, stdin: "x\n",
				args: []string{"--credential", "bgjt-nosuch", "--password-stdin"}, code: api.ExitDenied, want: "the password for bgjt-nosuch was not accepted"},
			{name: "unknown user as root", caller: nil,
				args: []string{"--credential", "bgjt-nosuch"}, code: api.ExitUsage, want: `there is no user "bgjt-nosuch"`},
			{name: "empty password given", caller: alice, stdin: "\n",
				args: []string{"--credential", userEmpty, "--password-stdin"}, code: api.ExitDenied, want: "needs " + userEmpty + "'s password"},
			{name: "user without a password", pam: true, caller: alice, stdin: "anything\n",
				args: []string{"--credential", userEmpty, "--password-stdin"}, code: api.ExitDenied, want: "was not accepted"},
			{name: "no password and no terminal", caller: alice,
				args: []string{"--credential", userBob}, code: api.ExitUsage, want: "no terminal to ask on"},
			{name: "workdir the user cannot enter", caller: nil,
				args: []string{"--credential", userBob, "--workdir", s.private}, code: api.ExitUsage, want: "user " + userBob + " cannot enter the working directory " + s.private},
			{name: "unsupported authentication", caller: alice, stdin: bob.password + "\n",
				args: []string{"--credential", userBob, "--password-stdin", "--authentication", "Kerberos"}, code: api.ExitUsage, want: "--authentication Kerberos is not supported here"},
			{name: "unknown authentication", caller: alice, stdin: bob.password + "\n",
				args: []string{"--credential", userBob, "--password-stdin", "--authentication", "Magic"}, code: api.ExitUsage, want: "Default, Basic, Negotiate"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.pam {
					needPAM(t)
				}
				before := jobIDs(s.jobs(nil))
				marker := filepath.Join(s.pub, "ran-"+strings.ReplaceAll(tt.name, " ", "-"))
				r := s.as(tt.caller, 0o022, tt.stdin, append(append([]string{"start"}, tt.args...), "--", "touch "+marker)...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
					t.Errorf("got %v\nwant exit %d and %q", r, tt.code, tt.want)
				}
				if after := jobIDs(s.jobs(nil)); !slices.Equal(before, after) {
					t.Errorf("the job table changed from %v to %v", before, after)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("the refused job ran")
				}
			})
		}
	})

	// A user's own host cannot run a job as someone else, and says how
	// to reach the one that can.
	t.Run("per-user host", func(t *testing.T) {
		privHome := filepath.Join(alice.home, "bgjob-home")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bins.Bgjob, "start", "--credential", userBob, "--password-stdin", "--", "id")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: alice.uid, Gid: alice.gid, Groups: alice.groups}}
		cmd.Dir = alice.home
		cmd.Env = []string{"HOME=" + alice.home, "USER=" + userAlice, "PATH=/usr/bin:/bin",
			"BGJOB_HOME=" + privHome, "BGJOB_RUNTIMES=" + catalogDir}
		cmd.Stdin = strings.NewReader(bob.password + "\n")
		t.Cleanup(func() {
			stopHost(privHome)
			killRelated(privHome)
		})
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != api.ExitUsage || !strings.Contains(string(out), "needs the system host") || !strings.Contains(string(out), "BGJOB_SOCKET=") {
			t.Errorf("--credential on alice's own host: %v\n%s", err, out)
		}
	})

	// Without PAM in bgjob-auth, a password cannot be checked: said
	// clearly; root's --credential still works.
	t.Run("without PAM", func(t *testing.T) {
		np := startSystemHost(t, withoutPAM, "")
		r := np.as(alice, 0o022, bob.password+"\n", "start", "--credential", userBob, "--password-stdin", "--", "id")
		if r.code != api.ExitDenied || !strings.Contains(r.stderr, "no PAM") {
			t.Errorf("a password check without PAM: %v", r)
		}
		id := np.startJob(nil, 0o022, "", "--credential", userBob, "--workdir", bob.home, "--", "id -un")
		if got := np.output(nil, id); !slices.Equal(got, []string{userBob}) {
			t.Errorf("root's job as bob without PAM said %q", got)
		}
	})

	// Jobs run as users outlive a host killed mid-job, while they print:
	// the next host reattaches to their runtimes, and every line arrives
	// once.
	t.Run("host killed", func(t *testing.T) {
		release := filepath.Join(s.pub, "killed.go")
		script := `i=0; while [ ! -e "$1" ]; do i=$((i+1)); echo "tick $i"; sleep 0.01; done; echo "after $(id -un)"`
		own := s.startJob(alice, 0o022, "", "--arg", release, "--", script)
		other := s.startJob(nil, 0o022, "", "--credential", userBob, "--workdir", bob.home, "--arg", release, "--", script)
		s.waitRunning(own, other)
		time.Sleep(300 * time.Millisecond) // some ticks before, some after
		s.end(syscall.SIGKILL)
		time.Sleep(300 * time.Millisecond) // and some while no host runs
		s.launch()
		time.Sleep(300 * time.Millisecond)
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		check := func(u *testUser, id uint64, user string) {
			got := s.output(u, id)
			if len(got) < 2 || got[len(got)-1] != "after "+user {
				t.Fatalf("job %d across a host crash said %q", id, got)
			}
			for i, line := range got[:len(got)-1] {
				if line != fmt.Sprintf("tick %d", i+1) {
					t.Fatalf("job %d across a host crash: line %d is %q, want tick %d (lines lost or repeated)", id, i+1, line, i+1)
				}
			}
		}
		check(alice, own, userAlice)
		check(nil, other, userBob)
		for _, j := range s.jobs(nil, strconv.FormatUint(own, 10), strconv.FormatUint(other, 10)) {
			if j.State != "Completed" {
				t.Errorf("job %d is %s after the crash", j.ID, j.State)
			}
		}
	})

	t.Run("isolation", func(t *testing.T) { testIsolation(t, s, alice, bob) })
}

// testIsolation: alice and bob each run jobs named alike on one system
// host; each sees and touches only their own, by id, name, wildcard and
// instance id, with every command; root sees both.
func testIsolation(t *testing.T, s *systemHost, alice, bob *testUser) {
	release := filepath.Join(s.pub, "isolation.go")
	script := `while [ ! -e "$1" ]; do sleep 0.05; done; echo "done $USER"`
	// What each had before (jobs of the other subtests) is theirs too.
	aliceBefore, bobBefore := jobIDs(s.jobs(alice)), jobIDs(s.jobs(bob))
	start := func(u *testUser, name string) uint64 {
		return s.startJob(u, 0o022, "", "--name", name, "--arg", release, "--", script)
	}
	a1, aShared := start(alice, "a1"), start(alice, "shared")
	b1, bShared := start(bob, "b1"), start(bob, "shared")
	all := s.waitRunning(a1, aShared, b1, bShared)
	instance := map[uint64]string{}
	for _, j := range all {
		instance[j.ID] = j.InstanceID
	}
	for _, id := range []uint64{a1, aShared, b1, bShared} {
		if instance[id] == "" {
			t.Fatalf("root does not see job %d: %+v", id, all)
		}
	}
	table := s.must(nil, "get")
	if !strings.Contains(strings.SplitN(table, "\n", 2)[0], "Owner") || !strings.Contains(table, userAlice) || !strings.Contains(table, userBob) {
		t.Errorf("root's table has no Owner column with both users:\n%s", table)
	}

	type side struct {
		me, other        *testUser
		mine, theirs     []uint64
		myName, theirNam string
	}
	sides := []side{
		{alice, bob, append(aliceBefore, a1, aShared), []uint64{b1, bShared}, "a1", "b1"},
		{bob, alice, append(bobBefore, b1, bShared), []uint64{a1, aShared}, "b1", "a1"},
	}
	for _, sd := range sides {
		t.Run(sd.me.name, func(t *testing.T) {
			mine := slices.Sorted(slices.Values(sd.mine))
			if got := jobIDs(s.jobs(sd.me)); !slices.Equal(got, mine) {
				t.Errorf("get lists %v, want only %v", got, mine)
			}
			if got := jobIDs(s.jobs(sd.me, "*")); !slices.Equal(got, mine) {
				t.Errorf("get '*' lists %v, want %v", got, mine)
			}
			if got := jobIDs(s.jobs(sd.me, "shared")); len(got) != 1 || !slices.Contains(sd.mine, got[0]) {
				t.Errorf("get shared lists %v, want only their own", got)
			}
			// Another's job answers as a job that never was: same
			// code, same words.
			// A wildcard matching only theirs answers as one matching
			// nothing (no error, nothing printed; send, which takes
			// one job, says none matches).
			for _, sel := range []string{strconv.FormatUint(sd.theirs[0], 10), sd.theirNam, instance[sd.theirs[0]], sd.theirNam[:1] + "*"} {
				for _, cmd := range [][]string{{"get"}, {"receive"}, {"wait", "--timeout", "5"}, {"stop"}, {"send", "--eof"}, {"remove", "--force"}} {
					nothing := "999999"
					if strings.Contains(sel, "*") {
						nothing = "zz-never-made*"
					}
					never := s.as(sd.me, 0o022, "", append(cmd, nothing)...)
					r := s.as(sd.me, 0o022, "", append(cmd, sel)...)
					if r.code != never.code || r.stdout != never.stdout ||
						strings.ReplaceAll(r.stderr, strconv.Quote(sel), `"X"`) != strings.ReplaceAll(never.stderr, strconv.Quote(nothing), `"X"`) {
						t.Errorf("%s %s (the other user's) answered %v\nnot as %s, which never was: %v", cmd[0], sel, r, nothing, never)
					}
					if nothing == "999999" && r.code != api.ExitNotFound {
						t.Errorf("%s %s (the other user's) answered exit %d, want %d", cmd[0], sel, r.code, api.ExitNotFound)
					}
				}
			}
		})
	}
	// Nothing of bob's was touched: his jobs still run, with no data
	// taken.
	for _, j := range s.jobs(nil, strconv.FormatUint(b1, 10), strconv.FormatUint(bShared, 10)) {
		if j.State != "Running" {
			t.Errorf("bob's job %d is %s after alice's commands", j.ID, j.State)
		}
	}
	// Alice's wildcards stop and remove only hers.
	s.must(alice, "stop", "*")
	s.must(alice, "remove", "*")
	if got := jobIDs(s.jobs(alice)); len(got) != 0 {
		t.Errorf("alice's jobs left after remove '*': %v", got)
	}
	left := s.jobs(nil, strconv.FormatUint(b1, 10), strconv.FormatUint(bShared, 10))
	if len(left) != 2 || left[0].State != "Running" || left[1].State != "Running" {
		t.Errorf("bob's jobs after alice's stop and remove of '*': %+v", left)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{b1, bShared} {
		if got := s.output(bob, id); !slices.Equal(got, []string{"done " + userBob}) {
			t.Errorf("bob's job %d said %q", id, got)
		}
	}
}
