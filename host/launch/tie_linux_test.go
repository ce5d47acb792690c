package launch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk/process"
	"golang.org/x/sys/unix"
)

// envTiedLauncher makes the test binary a launcher (a task, standing in
// for bgjobd remote-task) that starts one runtime tied to it in the
// directory the variable names, prints its pid, and waits to be killed.
const envTiedLauncher = "BGJOB_LAUNCH_TEST_TIED_LAUNCHER"

func init() {
	// Before TestMain's plugin check: the launcher is no plugin.
	if dir := os.Getenv(envTiedLauncher); dir != "" {
		tiedLauncher(dir)
	}
}

func tiedLauncher(dir string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		fail(err)
	}
	sum := sha256.Sum256(b)
	g := NewGoPlugin(Options{RunDir: dir, LogDir: dir, NoSpares: true, EndWithLauncher: true})
	p, err := g.Launch(context.Background(), &Spec{Binary: self, SHA256: hex.EncodeToString(sum[:]), Protocol: 2,
		OS: runtime.GOOS, Arch: runtime.GOARCH, Workdir: dir, LogFile: filepath.Join(dir, "job.log"), Env: []string{envPlugin + "=1"}})
	if err != nil {
		fail(err)
	}
	fmt.Println(p.Pid())
	time.Sleep(time.Minute)
	os.Exit(0)
}

// A runtime started with EndWithLauncher dies with its launcher's
// process, killed with -9 (a Slurm or SSH task killed): it used to run on
// with nobody to follow it or stop it.
func TestTiedRuntimeDiesWithItsLauncher(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	launcher := exec.Command(self, "-test.run=^$")
	launcher.Env = append(os.Environ(), envTiedLauncher+"="+t.TempDir())
	out, err := launcher.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = launcher.Process.Kill(); _ = launcher.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	rt, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the launcher said %q", line)
	}
	t.Cleanup(func() { _ = syscall.Kill(rt, syscall.SIGKILL) })
	if !process.Alive(rt) {
		t.Fatalf("the runtime %d is not running", rt)
	}
	if err := launcher.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = launcher.Wait()
	for deadline := time.Now().Add(10 * time.Second); process.Alive(rt); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the runtime %d still runs 10 s after its launcher was killed", rt)
		}
	}
}

// The kernel's parent-death signal follows the thread that started the
// process, not the process: a tied runtime started by a goroutine locked
// to a thread that then ends (Go ends the thread of a goroutine that
// exits locked to it) lives on, as its launcher does.
func TestTiedRuntimeOutlivesTheThreadThatAskedForIt(t *testing.T) {
	dir := t.TempDir()
	g := NewGoPlugin(Options{RunDir: dir, LogDir: dir, NoSpares: true, EndWithLauncher: true})
	defer g.Close()
	type launched struct {
		p   Process
		tid int
		err error
	}
	var l launched
	for {
		ch := make(chan launched, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			p, err := g.Launch(context.Background(), testSpec(t, dir))
			ch <- launched{p, unix.Gettid(), err}
		}()
		l = <-ch
		if l.err != nil {
			t.Fatal(l.err)
		}
		p := l.p
		t.Cleanup(func() { p.Release() })
		// Go does not end the process's main thread (it wedges it):
		// that goroutine must have had another.
		if l.tid != os.Getpid() {
			break
		}
	}
	task := fmt.Sprintf("/proc/self/task/%d", l.tid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the thread %d that asked for the runtime did not end", l.tid)
		}
	}
	// Had the runtime been started from that thread, the kernel would have
	// sent it KILL as the thread ended: it could not answer.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d, err := l.p.Conn().Describe(ctx); err != nil || d.Pid != l.p.Pid() {
		t.Fatalf("the runtime after the thread that asked for it ended: Describe = %+v, %v; want it running", d, err)
	}
}
