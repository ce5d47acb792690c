package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/sdk/process"
	"github.com/spf13/pflag"
)

// host --help is cobra's help, listing bgjobd's flags and stop, not
// bgjobd's own usage (and nothing is exec'd).
func TestHostHelp(t *testing.T) {
	isolate(t)
	t.Setenv("BGJOB_HOSTD", "/nonexistent/bgjobd")
	for _, args := range [][]string{{"host", "--help"}, {"host", "-h"}, {"host", "-help"}, {"help", "host"}, {"host", "--log-level", "debug", "--help"}} {
		code, out, errs := runCLI(t, args...)
		if code != 0 || errs != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
		for _, want := range []string{"Usage:\n  bgjob host [flags]\n  bgjob host [command]", "Examples:", "Available Commands:\n  stop ",
			"--idle-exit duration", "--home string", "--max-running int", "--log-level string", "Global Flags:\n      --color", "      --system",
			"Jobs keep running in their runtimes"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q does not print %q:\n%s", args, want, out)
			}
		}
	}
	code, out, _ := runCLI(t, "host", "stop", "--help")
	if code != 0 || !strings.Contains(out, "bgjob host stop [flags]") || !strings.Contains(out, "Examples:") {
		t.Errorf("host stop --help: exit %d:\n%s", code, out)
	}
}

// The flags host --help lists are bgjobd's, all of them.
func TestHostFlags(t *testing.T) {
	bgjobd := filepath.Join(built(t), "bgjobd")
	out, err := exec.Command(bgjobd, "-help").CombinedOutput()
	if err != nil {
		t.Fatalf("bgjobd -help: %v\n%s", err, out)
	}
	var real []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		real = append(real, m[1])
	}
	var described []string
	root := newRoot()
	host := subcommand(root, "host")
	host.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			described = append(described, f.Name)
		}
	})
	described = append(described, "system") // the root's --system
	sort.Strings(real)
	sort.Strings(described)
	if strings.Join(real, " ") != strings.Join(described, " ") {
		t.Errorf("bgjobd's flags: %s\nhost --help describes: %s", strings.Join(real, " "), strings.Join(described, " "))
	}
}

func TestHostStopRefusesSystem(t *testing.T) {
	isolate(t)
	code, out, errs := runCLI(t, "--system", "host", "stop")
	if code != api.ExitUsage || out != "" || errs != "bgjob: the system host is a service: systemctl stop bgjob (one run in the foreground with 'bgjob host --system' ends with Ctrl-C, or: kill $(cat /var/lib/bgjob/host.pid), the host.pid of its --home)\n" {
		t.Errorf("--system host stop: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	t.Setenv("BGJOB_SOCKET", "/run/elsewhere/host.sock")
	if code, _, errs := runCLI(t, "host", "stop"); code != api.ExitUsage || !strings.Contains(errs, "systemctl stop bgjob") {
		t.Errorf("host stop with BGJOB_SOCKET: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runCLI(t, "host", "stop", "extra"); code != api.ExitUsage || errs == "" {
		t.Errorf("host stop extra: exit %d, stderr %q", code, errs)
	}
}

func TestHostStopNone(t *testing.T) {
	home, _ := isolate(t)
	// No home at all, then a stale host.pid (a dead process), then
	// garbage in it.
	for _, pidFile := range []string{"", "999999999\n", "garbage"} {
		if pidFile != "" {
			if err := os.MkdirAll(home, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(home, "host.pid"), []byte(pidFile), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		code, out, errs := runCLI(t, "host", "stop")
		if code != 0 || out != "" || errs != "no host is running for "+home+"\n" {
			t.Errorf("host stop with host.pid %q: exit %d, stdout %q, stderr %q", pidFile, code, out, errs)
		}
	}
}

// A real host: stopped, silently, and gone when host stop returns.
func TestHostStop(t *testing.T) {
	home, _ := isolate(t)
	bgjobd := filepath.Join(built(t), "bgjobd")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bgjobd, "-home", home, "-idle-exit", "0")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := api.Dial(home); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host did not come up:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, out, errs := runCLI(t, "host", "stop")
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("host stop: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// host stop returns once the host is dead: a zombie, which this test
	// (its parent) reaps a moment later.
	if state, _ := process.State(cmd.Process.Pid); state != 0 && state != 'Z' {
		t.Fatalf("host stop returned while the host still runs (state %c)", state)
	}
	if err := <-exited; err != nil {
		t.Errorf("the host exited with %v after host stop; want 0\n%s", err, log.String())
	}
	exited <- nil
	if _, err := os.Stat(filepath.Join(home, "host.pid")); !os.IsNotExist(err) {
		t.Errorf("host.pid is left (%v)", err)
	}
	code, _, errs = runCLI(t, "host", "stop")
	if code != 0 || errs != "no host is running for "+home+"\n" {
		t.Errorf("host stop again: exit %d, stderr %q", code, errs)
	}
}

// fakeHostd runs this test binary as a process named bgjobd (its argv[0])
// with extra arguments after "--", which the test binary ignores: it
// sleeps, ignoring SIGTERM if told to.
func fakeHostd(t *testing.T, ignoreTerm bool, extra ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bgjobd")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	outF, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(outF, in); err != nil {
		t.Fatal(err)
	}
	outF.Close()
	cmd := exec.Command(bin, append([]string{"-test.run=^TestFakeHostdProcess$"}, append([]string{"--"}, extra...)...)...)
	cmd.Env = append(os.Environ(), "BGJOB_TEST_FAKE_HOSTD=1", "BGJOB_TEST_IGNORE_TERM="+strconv.FormatBool(ignoreTerm))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// It says when its signals are set up.
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the fake bgjobd said %q, %v", line, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestFakeHostdProcess is the fake bgjobd of fakeHostd, not a test.
func TestFakeHostdProcess(t *testing.T) {
	if os.Getenv("BGJOB_TEST_FAKE_HOSTD") != "1" {
		t.Skip("the fake bgjobd of TestHostStopChecks")
	}
	if os.Getenv("BGJOB_TEST_IGNORE_TERM") == "true" {
		signal.Ignore(syscall.SIGTERM)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// host stop ends only a bgjobd of this home, and gives up, saying so,
// on one that does not end.
func TestHostStopChecks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the checks read /proc")
	}
	home, _ := isolate(t)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	writePid := func(pid int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(home, "host.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A pid reused by a process that is no bgjobd, and a bgjobd of
	// another home: neither is touched.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	other := fakeHostd(t, false, "-home", t.TempDir())
	for _, pid := range []int{sleeper.Process.Pid, other.Process.Pid} {
		writePid(pid)
		code, _, errs := runCLI(t, "host", "stop")
		if code != 0 || errs != "no host is running for "+home+"\n" {
			t.Errorf("host stop with host.pid naming %d: exit %d, stderr %q", pid, code, errs)
		}
		if !processAlive(pid) {
			t.Errorf("host stop ended process %d, which is not the host of %s", pid, home)
		}
	}

	// A bgjobd of this home (-home=HOME) that
	// ignores SIGTERM: an error naming it, exit 7.
	stuck := fakeHostd(t, true, "-home="+home)
	writePid(stuck.Process.Pid)
	err := stopHost(home, 300*time.Millisecond, io.Discard)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.ExitUnavailable || !strings.Contains(err.Error(), fmt.Sprintf("the host (pid %d) for %s did not exit within 300ms", stuck.Process.Pid, home)) {
		t.Errorf("stopping a host that ignores SIGTERM: %v", err)
	}

	// One that does end.
	fine := fakeHostd(t, false, "-home", home)
	writePid(fine.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- fine.Wait() }()
	if err := stopHost(home, 10*time.Second, io.Discard); err != nil {
		t.Errorf("stopping a host of this home: %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the host of this home still runs")
	}
}

func TestServesHome(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		argv []string
		cwd  string
		want bool
	}{
		{[]string{"/usr/bin/bgjobd", "-home", home}, "", true},
		{[]string{"bgjobd", "--home", home + "/"}, "", true},
		{[]string{"bgjobd", "-home=" + home}, "", true},
		{[]string{"bgjobd", "--home=" + filepath.Base(home)}, filepath.Dir(home), true},
		{[]string{"bgjobd"}, "", true}, // its default home wrote host.pid
		{[]string{"bgjobd", "-log-level", "debug"}, "", true},
		{[]string{"bgjobd", "-home", "/elsewhere"}, "", false},
		{[]string{"bgjobd", "-system"}, "", false},
		{[]string{"sleep", "60"}, "", false},
		{[]string{"bash", "-c", "bgjobd -home " + home}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		if got := servesHome(tt.argv, tt.cwd, home); got != tt.want {
			t.Errorf("servesHome(%q, %q) = %v, want %v", tt.argv, tt.cwd, got, tt.want)
		}
	}
}
