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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk/process"
)

// TestSystemHostTrustsOnlyItsRuntimes is the system host (root) against a
// user who controls their own runtimes and their own directories, as a
// local attacker would: the socket the runtime's handshake names, the
// files in the runtime's socket directory. Each subtest is a hole that was
// open (docs/security.md lists them).
func TestSystemHostTrustsOnlyItsRuntimes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates users and runs the system host (CI runs as root)")
	}
	users := createUsers(t)
	alice := users[userAlice]
	s := startSystemHost(t, "/bin/false", "")

	// A socket only root reaches, standing for an idle root runtime's: the
	// host must never be made to connect to it.
	victim := filepath.Join(s.private, "root-runtime.sock")
	ln, err := net.Listen("unix", victim)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()

	t.Run("forged handshake", func(t *testing.T) {
		// A runtime whose handshake names the victim, installed as
		// "forge"; what it says is in a file the test rewrites per case.
		cfg := filepath.Join(s.pub, "forge.conf")
		bin := buildForge(t, s.dir, cfg)
		if err := bins.install(catalogDir, []string{bin}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(filepath.Join(catalogDir, "forge")) })
		for _, mode := range []string{"other", "link"} {
			if err := os.WriteFile(cfg, []byte(mode+"\n"+victim+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := s.as(alice, 0o022, "", "start", "--wait", "--runtime", "forge", "--", "id")
			if r.code == 0 {
				t.Errorf("%s: a job on a runtime with a forged handshake succeeded: %v", mode, r)
			}
			if !strings.Contains(r.stdout+r.stderr, "not its own") {
				t.Errorf("%s: the failure does not say the runtime's address is not its own: %v", mode, r)
			}
			if n := conns.Load(); n != 0 {
				t.Fatalf("%s: the host connected %d times to the socket a forged handshake named", mode, n)
			}
		}
	})

	// alice's run leaves her a spare (a runtime started ahead of need) and
	// her reusable runtime, each with a socket directory of hers.
	s.must(alice, "start", "--wait", "--", "true")
	dirs := waitUserSockDirs(t, s, alice, 2)
	pids := userRuntimePids(t, alice)

	// A root process alice would like dead.
	sleeper := exec.Command("sleep", "600")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", sleeper.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	s.end(syscall.SIGKILL)

	t.Run("nothing of root's in a user's directory", func(t *testing.T) {
		for _, d := range dirs {
			entries, err := os.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				fi, err := os.Lstat(filepath.Join(d, e.Name()))
				if err != nil {
					continue // the runtime's own, come and gone
				}
				if st := fi.Sys().(*syscall.Stat_t); st.Uid != alice.uid {
					t.Errorf("%s in %s's socket directory belongs to uid %d: the host wrote where the user could plant a link", e.Name(), alice.name, st.Uid)
				}
			}
		}
	})

	t.Run("forged pid file across a kill", func(t *testing.T) {
		// As alice: a pid file in each of her socket directories naming
		// root's process (the format hosts once read back).
		for _, d := range dirs {
			cmd := exec.Command("/bin/sh", "-c", `rm -f "$1/runtime.pid"; printf '%s\n%s\n' "$2" "$3" > "$1/runtime.pid"`,
				"sh", d, strconv.Itoa(sleeper.Process.Pid), exe)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: alice.uid, Gid: alice.gid}}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("writing the pid file as %s: %v\n%s", alice.name, err, out)
			}
		}
		s.launch()
		s.must(nil, "get")
		if !process.Alive(sleeper.Process.Pid) {
			t.Fatalf("the restarted host killed root's process %d, named in a pid file alice wrote", sleeper.Process.Pid)
		}
		// What the killed host left is ended by the host's own records.
		for _, pid := range pids {
			waitProcessGone(t, pid, "alice's idle runtime, left by the killed host")
		}
	})
}

// buildForge builds integration/testdata/forgert into dir, reading its
// configuration from cfg.
func buildForge(t *testing.T, dir, cfg string) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "forge", "bgjob-forge")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.config="+cfg, "./integration/testdata/forgert")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build forgert: %v\n%s", err, out)
	}
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// waitUserSockDirs waits for n of u's runtimes' socket directories in the
// host's run directory and returns them.
func waitUserSockDirs(t *testing.T, s *systemHost, u *testUser, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var dirs []string
		entries, _ := os.ReadDir(filepath.Join(s.home, "run"))
		for _, e := range entries {
			d := filepath.Join(s.home, "run", e.Name())
			fi, err := os.Lstat(d)
			if err != nil || !fi.IsDir() || fi.Sys().(*syscall.Stat_t).Uid != u.uid {
				continue
			}
			if socks, _ := filepath.Glob(filepath.Join(d, "plugin*")); len(socks) > 0 {
				dirs = append(dirs, d)
			}
		}
		if len(dirs) >= n && len(userRuntimePids(t, u)) >= n {
			return dirs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runtimes of %s did not come up within 20s (%d did)", n, u.name, len(dirs))
		}
	}
}

// userRuntimePids lists the processes running as u whose environment has a
// plugin socket directory: u's runtimes.
func userRuntimePids(t *testing.T, u *testUser) []int {
	t.Helper()
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fi, err := os.Stat("/proc/" + e.Name())
		if err != nil || fi.Sys().(*syscall.Stat_t).Uid != u.uid {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && strings.Contains(string(env), "PLUGIN_UNIX_SOCKET_DIR=") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitProcessGone fails the test unless pid ends within 20 seconds.
func waitProcessGone(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); process.Alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still runs", what, pid)
		}
	}
}
