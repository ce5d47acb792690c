//go:build linux

package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privateSSHD is an OpenSSH server of one test's own, which the test can
// stop and start again: a computer that goes away. (The shared servers of
// ssh-setup.sh must stay up for the other tests.) Its client side is a
// config of the test user's naming it bgjt-private (and the shared
// servers, through the user's own config), which the host's ssh reads
// through $BGJOB_SSH, a script that runs the system's ssh with -F.
type privateSSHD struct {
	t      *testing.T
	config string // sshd_config
	ssh    string // the ssh client the host runs ($BGJOB_SSH)
	cmd    *exec.Cmd
}

// startPrivateSSHD starts a server for h's user on a free port of
// 127.0.0.1 and points h's host at it.
func startPrivateSSHD(t *testing.T, h *home) *privateSSHD {
	t.Helper()
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("no %s (integration/ssh-setup.sh installs it): %v", sshd, err)
	}
	srv := t.TempDir() // root's: the server's key and config
	mustRun(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bgjob-test-private", "-f", filepath.Join(srv, "key"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &privateSSHD{t: t, config: filepath.Join(srv, "sshd_config")}
	writeTestFile(t, s.config, fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers %s
AuthorizedKeysFile .ssh/authorized_keys
`, port, filepath.Join(srv, "key"), sshTestUser), 0o600)
	pub, err := os.ReadFile(filepath.Join(srv, "key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	// The client's files, in the test's directory, which its user owns.
	cli := filepath.Join(h.dir, "ssh")
	if err := os.Mkdir(cli, 0o755); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	known := filepath.Join(cli, "known_hosts")
	writeTestFile(t, known, fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, f[0], f[1]), 0o644)
	home, _ := envOf(h.env, "HOME")
	config := filepath.Join(cli, "config")
	writeTestFile(t, config, fmt.Sprintf(`Host bgjt-private
	HostName 127.0.0.1
	Port %d
	User %s
	UserKnownHostsFile %s
Host *
	Include %s/.ssh/config
`, port, sshTestUser, known, home), 0o644)
	s.ssh = filepath.Join(cli, "ssh")
	client, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, s.ssh, "#!/bin/sh\nexec "+client+" -F "+config+" \"$@\"\n", 0o755)
	h.env = append(h.env, "BGJOB_SSH="+s.ssh)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func writeTestFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// envOf is the value of name in env.
func envOf(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// start starts the server (again) and waits until the test user gets in.
func (s *privateSSHD) start() {
	s.t.Helper()
	s.cmd = exec.Command("/usr/sbin/sshd", "-D", "-f", s.config, "-E", s.config+".log")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	u := needSSH(s.t)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if s.runAsUser("ssh -o BatchMode=yes bgjt-private true") == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.config + ".log")
			s.t.Fatalf("%s cannot reach the test's own sshd: %v\n%s", u.Username, s.runAsUser("ssh -o BatchMode=yes bgjt-private true"), log)
		}
	}
}

// runAsUser runs the command line cmdline as the test user, the ssh there
// the client the host uses.
func (s *privateSSHD) runAsUser(cmdline string) error {
	u := needSSH(s.t)
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credOf(s.t, u)}
	cmd.Env = []string{"HOME=" + u.HomeDir, "PATH=" + filepath.Dir(s.ssh) + ":/usr/bin:/bin"}
	cmd.Dir = u.HomeDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stop stops the server and ends every connection it holds (its session
// processes, sshd too): the computer is gone. What the sessions started
// (a job's task) runs on, as it would on a computer cut off.
func (s *privateSSHD) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pids := []int{s.cmd.Process.Pid}
	for i := 0; i < len(pids); i++ {
		for _, k := range childrenOf(pids[i]) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", k)); strings.TrimSpace(string(comm)) == "sshd" || strings.HasPrefix(string(comm), "sshd-") {
				pids = append(pids, k)
			}
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = s.cmd.Wait()
	for _, pid := range pids[1:] {
		waitGone(pid, 10*time.Second)
	}
	s.cmd = nil
}

// childrenOf are pid's child processes: those of each of its threads (a
// Go program forks from any of them).
func childrenOf(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(f); err == nil {
				out = append(out, k)
			}
		}
	}
	return out
}

// remove --force of a job whose computer went away (its sshd stopped, its
// connections cut) removes the job: the child on the computer that answers
// is stopped there, the one that cannot be reached is given up on, and
// stderr names the computer, says the job may still run there and how to
// stop it; the command it gives does, once the computer is back. (remove
// --force used to fail, exit 7, "did not end on its computers within 34s",
// for as long as the computer was away.)
func TestSSHRemoveForceComputerAway(t *testing.T) {
	t.Parallel()
	h := sshHome(t)
	srv := startPrivateSSHD(t, h)
	marker, kids := h.startSleepingSSH("Away", "bgjt-private,bgjt-a")
	away, there := kids[0], kids[1]
	srv.stop()
	code, _, errOut := h.exec("", "remove", "--force", "Away")
	if code != 0 {
		t.Fatalf("remove --force with bgjt-private away: exit %d, %s", code, errOut)
	}
	if left := h.jobs(); len(left) != 0 {
		t.Errorf("after remove --force: %+v, want no jobs", left)
	}
	for _, want := range []string{fmt.Sprintf("job %d (%s) was removed without being stopped", away.ID, away.Name),
		"bgjt-private cannot be reached (ssh: connect to host 127.0.0.1", "may still be running there"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("remove --force said %q, want it to say %q", errOut, want)
		}
	}
	if strings.Contains(errOut, there.Name) {
		t.Errorf("remove --force said %q: the child on bgjt-a was stopped, nothing to say of it", errOut)
	}
	// bgjt-a's child was stopped there; bgjt-private's could not be.
	for deadline := time.Now().Add(10 * time.Second); len(related(marker+"-"+there.Name)) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job's processes on bgjt-a are still there after remove --force: %v", related(marker+"-"+there.Name))
		}
	}
	if len(related(marker+"-"+away.Name)) == 0 {
		t.Errorf("the job on bgjt-private ended though it could not be reached")
	}
	// What it says to do stops the job there once the computer is back,
	// and removes its files.
	stopCmd := between(errOut, "once bgjt-private answers, '", "' stops it")
	rmCmd := between(errOut, "a task-*.done file appears there), '", "' removes its files")
	dir := ".cache/bgjob/jobs/" + away.InstanceID
	if stopCmd != "ssh bgjt-private touch "+dir+"/stop" || rmCmd != "ssh bgjt-private rm -rf "+dir {
		t.Fatalf("remove --force said to run %q and %q", stopCmd, rmCmd)
	}
	srv.start()
	if err := srv.runAsUser(stopCmd); err != nil {
		t.Fatalf("%s: %v", stopCmd, err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(related(marker+"-"+away.Name)) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job on bgjt-private still runs after %s", stopCmd)
		}
	}
	// Its task records the job's end, then it can go.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(remoteJobDir(t, away.InstanceID), "task-0.done")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task on bgjt-private did not record the job's end after %s", stopCmd)
		}
	}
	if err := srv.runAsUser(rmCmd); err != nil {
		t.Fatalf("%s: %v", rmCmd, err)
	}
	if _, err := os.Stat(remoteJobDir(t, away.InstanceID)); err == nil {
		t.Errorf("%s left the job's directory", rmCmd)
	}
}

// A stop whose first connection is dropped in the handshake (an sshd
// past its MaxStartups drops some of many handshakes at once, and a stop
// sends every child's connection again at once) is carried by the next:
// remove --force stops the job there rather than give up on a computer
// that is there. (One failed attempt used to be taken for the computer
// gone: the job was removed in 0.2 s, still running there.)
func TestSSHRemoveForceRidesOutADroppedHandshake(t *testing.T) {
	t.Parallel()
	h := sshHome(t)
	client, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	dropped := filepath.Join(h.dir, "dropped")
	wrapper := filepath.Join(h.dir, "ssh-drops-a-stop")
	writeTestFile(t, wrapper, fmt.Sprintf(`#!/bin/sh
case "$*" in *' -stop'*) if mkdir %s 2>/dev/null; then echo 'kex_exchange_identification: Connection reset by peer' >&2; exit 255; fi;; esac
exec %s "$@"
`, dropped, client), 0o755)
	h.env = append(h.env, "BGJOB_SSH="+wrapper)
	marker, kids := h.startSleepingSSH("Dropped", "bgjt-a")
	marker += "-" + kids[0].Name
	code, _, errOut := h.exec("", "remove", "--force", "Dropped")
	if code != 0 || strings.Contains(errOut, "without being stopped") {
		t.Fatalf("remove --force with one handshake dropped: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(dropped); err != nil {
		t.Fatalf("no stop's connection went through the wrapper that drops one (%v): the test tested nothing", err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(related(marker)) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job's processes on bgjt-a are still there after remove --force: %v", related(marker))
		}
	}
}

// between is what s has between before and after ("" if not).
func between(s, before, after string) string {
	_, rest, ok := strings.Cut(s, before)
	if !ok {
		return ""
	}
	out, _, _ := strings.Cut(rest, after)
	return out
}

// remoteJobDir is where the task of the child job with instanceID keeps
// its files on the computers here (all of them this machine).
func remoteJobDir(t *testing.T, instanceID string) string {
	return filepath.Join(needSSH(t).HomeDir, ".cache/bgjob/jobs", instanceID)
}

// remoteTaskPid is the pid of that task, as its launcher wrote it (0 if
// it did not).
func remoteTaskPid(t *testing.T, instanceID string) int {
	pid, err := readPidFile(filepath.Join(remoteJobDir(t, instanceID), "task-0.pid"))
	if err != nil {
		return 0
	}
	return pid
}

// sessionMembers are the live processes of session sid.
func sessionMembers(sid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// After the command's name: state, ppid, pgrp, session.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 3 && f[3] == strconv.Itoa(sid) {
			out = append(out, pid)
		}
	}
	return out
}

// endRemoteTask ends what a test left of a child's task there: the task,
// its followers, its runtime and the runtime's session (the job's
// processes), each found by the task's directory; then that directory.
func endRemoteTask(t *testing.T, instanceID string) {
	var pids []int
	if task := remoteTaskPid(t, instanceID); task > 0 && alive(task) {
		pids = append(pids, task)
		for _, rt := range childrenOf(task) {
			pids = append(pids, sessionMembers(rt)...)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(b), "remote-task") && strings.Contains(string(b), instanceID) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		waitGone(pid, 5*time.Second)
	}
	if len(pids) > 0 {
		t.Logf("cleanup: ended what was left of the task of %s: pids %v", instanceID, pids)
	}
	os.RemoveAll(remoteJobDir(t, instanceID))
}
