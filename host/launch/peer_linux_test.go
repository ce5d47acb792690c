package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk/process"
)

// envForge makes the test binary a runtime that lies in its go-plugin
// handshake (see forge): it names the address in envForgeAddr, reached
// the way envForge says.
const (
	envForge     = "BGJOB_LAUNCH_TEST_FORGE"
	envForgeAddr = "BGJOB_LAUNCH_TEST_FORGE_ADDR"
	envListen    = "BGJOB_LAUNCH_TEST_LISTEN"
)

func init() {
	// Run before TestMain's plugin check: these helper processes are not
	// plugins.
	if path := os.Getenv(envListen); path != "" {
		listenForever(path)
	}
	if mode := os.Getenv(envForge); mode != "" {
		forge(mode, os.Getenv(envForgeAddr))
	}
}

// forge writes a go-plugin handshake naming an address that is not this
// process's own socket, then waits to be killed:
//   - "other": another socket, named directly;
//   - "link": a symbolic link to it, in the process's own socket directory;
//   - "sibling": a socket in its own directory that another process (a
//     child of this one) listens on.
func forge(mode, other string) {
	dir := os.Getenv("PLUGIN_UNIX_SOCKET_DIR")
	addr := other
	switch mode {
	case "link":
		addr = filepath.Join(dir, "plugin-link")
		if err := os.Symlink(other, addr); err != nil {
			panic(err)
		}
	case "sibling":
		addr = filepath.Join(dir, "plugin-sibling")
		self, _ := os.Executable()
		cmd := exec.Command(self)
		cmd.Env = []string{envListen + "=" + addr}
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		// Listening, not only bound: the socket file exists before its
		// listener takes connections.
		for {
			if c, err := net.Dial("unix", addr); err == nil {
				c.Close()
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	fmt.Printf("1|2|unix|%s|grpc|\n", addr)
	time.Sleep(time.Minute)
	os.Exit(0)
}

// listenForever accepts connections on a unix socket at path until killed
// (or a minute passes).
func listenForever(path string) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	time.Sleep(time.Minute)
	os.Exit(0)
}

// launchDirs makes a launcher's directories: the test's own, its run
// directory (sockets) and its state directory (the host's).
func launchDirs(t *testing.T) (dir, run, state string) {
	dir = t.TempDir()
	run, state = filepath.Join(dir, "run"), filepath.Join(dir, "state")
	os.MkdirAll(run, 0o700)
	os.MkdirAll(state, 0o700)
	return dir, run, state
}

// victim is a socket served by this test process (standing for a root
// runtime, or another user's): it counts the connections it gets.
type victim struct {
	path  string
	conns atomic.Int32
}

func newVictim(t *testing.T, dir string) *victim {
	t.Helper()
	v := &victim{path: filepath.Join(dir, "victim.sock")}
	ln, err := net.Listen("unix", v.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			v.conns.Add(1)
			c.Close()
		}
	}()
	return v
}

// A runtime that names any socket but its own in its handshake is refused
// before the host says anything to that socket: another process's socket
// named directly, a link to it in the runtime's own directory, and a socket
// in its own directory served by another process. Nothing is left behind.
func TestLaunchRefusesForgedAddress(t *testing.T) {
	for _, mode := range []string{"other", "link", "sibling"} {
		t.Run(mode, func(t *testing.T) {
			dir, run, state := launchDirs(t)
			v := newVictim(t, dir)
			g := NewGoPlugin(Options{RunDir: run, LogDir: dir, StateDir: state, NoSpares: true})
			defer g.Close()
			spec := testSpec(t, dir)
			spec.Env = []string{envForge + "=" + mode, envForgeAddr + "=" + v.path}
			p, err := g.Launch(context.Background(), spec)
			if err == nil {
				p.Kill()
				t.Fatal("a runtime whose handshake names another socket was accepted")
			}
			if !errors.Is(err, protocol.ErrNotPeer) {
				t.Errorf("Launch: %v; want an error wrapping ErrNotPeer", err)
			}
			if n := v.conns.Load(); n != 0 {
				t.Errorf("the host connected %d times to the socket the forged handshake named", n)
			}
			for _, d := range []string{run, state} {
				if left, _ := os.ReadDir(d); len(left) != 0 {
					t.Errorf("a refused runtime left %v in %s", left, d)
				}
			}
		})
	}
}

// A launched process's socket is pinned in the state directory, its
// attach record names it with the uid and start time, and both go with the
// process.
func TestLaunchPinsSocket(t *testing.T) {
	dir, run, state := launchDirs(t)
	g := NewGoPlugin(Options{RunDir: run, LogDir: dir, StateDir: state, NoSpares: true})
	defer g.Close()
	p, err := g.Launch(context.Background(), testSpec(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	a := p.Attach()
	start, _ := process.StartTime(p.Pid())
	if a == nil || filepath.Dir(a.Addr) != state || a.UID != uint32(os.Geteuid()) || a.Start == 0 || a.Start != start {
		t.Fatalf("Attach = %+v; want the address in %s, uid %d, start %d", a, state, os.Geteuid(), start)
	}
	if fi, err := os.Lstat(a.Addr); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("the pinned socket: %v, %v", fi, err)
	}
	p.Release()
	if left, _ := os.ReadDir(state); len(left) != 0 {
		t.Errorf("a released process left %v in the state directory", left)
	}
}

// Reattach talks only to the process the record names: a pid that is now
// another process (another start time) is not reattached, and a record
// whose socket is served by another process is refused; neither process
// is killed for it.
func TestReattachChecksProcess(t *testing.T) {
	dir, run, state := launchDirs(t)
	g := NewGoPlugin(Options{RunDir: run, LogDir: dir, StateDir: state, NoSpares: true})
	defer g.Close()
	p, err := g.Launch(context.Background(), testSpec(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	a := *p.Attach()

	// The pid with another start time: a recycled pid.
	stale := a
	stale.Start--
	if _, err := g.Reattach(&stale, filepath.Join(dir, "r1.log")); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("Reattach with another start time: %v", err)
	}
	if p.Exited() {
		t.Fatal("a failed reattach killed a process it did not start")
	}
	// A socket served by another process, recorded for this pid.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	v := newVictim(t, dir)
	forged := a
	forged.Pid = sleeper.Process.Pid
	forged.Start, _ = process.StartTime(forged.Pid)
	forged.Addr = v.path
	if _, err := g.Reattach(&forged, filepath.Join(dir, "r2.log")); !errors.Is(err, protocol.ErrNotPeer) {
		t.Errorf("Reattach to a socket another process serves: %v", err)
	}
	// The genuine record reattaches.
	q, err := g.Reattach(&a, filepath.Join(dir, "r3.log"))
	if err != nil {
		t.Fatalf("Reattach: %v", err)
	}
	if d, err := q.Conn().Describe(context.Background()); err != nil || d.Pid != p.Pid() {
		t.Errorf("Describe after reattach = %+v, %v", d, err)
	}
}

// Sweep ends a spare a killed host left, by the launcher's own record (and
// keeps the process of a job still running), and never a process a record
// does not name exactly: a record whose pid is
// now another process (its start time differs) leaves that process alone.
// Nothing in a socket directory (the runtime's user's) is read.
func TestSweepByOwnRecords(t *testing.T) {
	dir, run, state := launchDirs(t)
	g := NewGoPlugin(Options{RunDir: run, LogDir: dir, StateDir: state})
	p, err := g.Launch(context.Background(), testSpec(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	spare := waitSpare(t, g)
	jobDir := p.Attach().SockDir
	var spareDir string
	recs, _ := filepath.Glob(filepath.Join(state, "*"+procSuffix))
	for _, r := range recs {
		if d := filepath.Join(run, strings.TrimSuffix(filepath.Base(r), procSuffix)); d != jobDir {
			spareDir = d
		}
	}
	if len(recs) != 2 || spareDir == "" {
		t.Fatalf("the state directory holds records %v; want the job's process's and the spare's", recs)
	}
	// What a user could write in the spare's own directory names a victim.
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer victim.Process.Kill()
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", victim.Process.Pid))
	os.WriteFile(filepath.Join(spareDir, "runtime.pid"), fmt.Appendf(nil, "%d\n%s\n", victim.Process.Pid, exe), 0o600)
	// A record of the launcher's own naming the victim's pid with another
	// start time (the pid was reused).
	vstart, _ := process.StartTime(victim.Process.Pid)
	os.MkdirAll(filepath.Join(run, "spare-reused"), 0o700)
	os.WriteFile(filepath.Join(state, "spare-reused"+procSuffix), fmt.Appendf(nil, "%d %d\n", victim.Process.Pid, vstart+1), 0o600)

	// The host is "killed": its launcher is dropped without Close, and
	// the next host's launcher sweeps, with the job's process in use.
	g2 := NewGoPlugin(Options{RunDir: run, LogDir: dir, StateDir: state, NoSpares: true})
	defer g2.Close()
	g2.Sweep(func(d string) bool { return d == jobDir })
	for deadline := time.Now().Add(10 * time.Second); process.Alive(spare); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spare %d the killed host left still runs", spare)
		}
	}
	if !process.Alive(victim.Process.Pid) {
		t.Fatal("Sweep killed a process the launcher did not start")
	}
	if p.Exited() {
		t.Fatal("Sweep killed the process of a running job")
	}
	if _, err := os.Stat(spareDir); !os.IsNotExist(err) {
		t.Errorf("the spare's directory is still there: %v", err)
	}
	left, _ := os.ReadDir(state)
	for _, e := range left {
		if !strings.HasPrefix(filepath.Join(run, e.Name()), jobDir) {
			t.Errorf("Sweep left %s in the state directory", e.Name())
		}
	}
	_ = syscall.Kill(p.Pid(), syscall.SIGKILL)
	p.Release()
	g.Close()
}
