//go:build unix

package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// With envListen set, the test binary listens on that socket and accepts
// until killed (see TestDialRefusesForeignListener).
const envListen = "BGJOB_API_TEST_LISTEN"

func TestMain(m *testing.M) {
	if path := os.Getenv(envListen); path != "" {
		ln, err := net.Listen("unix", path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Chmod(path, 0o777)
		os.WriteFile(path+".ready", nil, 0o666)
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			WriteFrame(c, FrameHello, []byte(`{"version":1}`))
		}
	}
	os.Exit(m.Run())
}

func TestCheckHome(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.Mkdir(good, 0o700)
	if err := CheckHome(good); err != nil {
		t.Errorf("a private home of ours: %v", err)
	}
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	for path, want := range map[string]string{
		open:                       "may be written by others",
		link:                       "symbolic link",
		file:                       "not a directory",
		filepath.Join(dir, "none"): "no such file",
	} {
		if err := CheckHome(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckHome(%s): %v, want %q", filepath.Base(path), err, want)
		}
	}
	// A home another user made, with a link planted where the pid file or
	// the log would go: refused before anything is written through it.
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a home owned by another user")
	}
	theirs := filepath.Join(dir, "theirs")
	os.Mkdir(theirs, 0o700)
	os.Chown(theirs, 65534, 65534)
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep me"), 0o600)
	os.Symlink(victim, filepath.Join(theirs, "host.log"))
	if err := CheckHome(theirs); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("CheckHome of another user's home: %v", err)
	}
	if f, err := PrepareHome(theirs); err == nil {
		f.Close()
		t.Error("PrepareHome accepted another user's home")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the link's target was written: %q", b)
	}
	// Even in a home of ours, the log is not opened through a link.
	os.Remove(filepath.Join(good, "host.log"))
	os.Symlink(victim, filepath.Join(good, "host.log"))
	if f, err := PrepareHome(good); err == nil {
		f.Close()
		t.Error("PrepareHome opened the log through a symbolic link")
	}
}

// A host that dies as it starts is reported at once, with the end of its
// log, not after Connect's whole wait.
func TestConnectReportsHostExit(t *testing.T) {
	home, err := os.MkdirTemp("", "bga")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	os.WriteFile(filepath.Join(home, "host.log"), []byte("bgjobd: the job table is broken\n"), 0o600)
	begin := time.Now()
	_, err = Connect(home, 30*time.Second, func() (<-chan error, error) {
		c := make(chan error, 1)
		c <- errors.New("exit status 7")
		return c, nil
	})
	if err == nil || !strings.Contains(err.Error(), "exited as it started") || !strings.Contains(err.Error(), "the job table is broken") {
		t.Errorf("Connect to a host that died at start: %v", err)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("Connect took %v to notice the host had exited", took)
	}
}

// A socket whose listener is another user is refused before anything is
// read or sent.
func TestDialRefusesForeignListener(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to listen as another user")
	}
	dir, err := os.MkdirTemp("", "bga")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	self, _ := os.Executable()
	bin := filepath.Join(dir, "listener")
	data, _ := os.ReadFile(self)
	os.WriteFile(bin, data, 0o755)
	sock := filepath.Join(dir, "host.sock")
	cmd := exec.Command(bin)
	cmd.Env = []string{envListen + "=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener did not come up")
		}
	}
	_, err = dial(sock, dir, false)
	if err == nil || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("dial to another user's socket: %v", err)
	}
}
