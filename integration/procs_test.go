//go:build unix

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/sdk/process"
)

// Process helpers: the host daemon runs in a session of its own and runtime
// plugins in process groups of their own, so nothing the tests start dies
// with the test process. These find and end them by pid, never by name.

// readPidFile returns the pid written in file.
func readPidFile(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s holds %q, not a pid", file, s)
	}
	return pid, nil
}

// alive reports whether pid is a process that has not exited.
func alive(pid int) bool { return process.Alive(pid) }

// waitGone waits up to timeout for pid to end; it reports whether it did.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !alive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hostPid returns the pid of the host serving home, from host.pid, if that
// process is alive and is a bgjobd for this home (host.pid is left behind
// when a host is killed, and its pid may have been reused since).
func hostPid(home string) (int, bool) {
	pid, err := readPidFile(filepath.Join(home, "host.pid"))
	if err != nil || !alive(pid) {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "bgjobd" {
		return 0, false
	}
	for i, a := range args {
		if (a == "-home" || a == "--home") && i+1 < len(args) && sameDir(args[i+1], home) {
			return pid, true
		}
		if v, ok := strings.CutPrefix(a, "-home="); ok && sameDir(v, home) {
			return pid, true
		}
	}
	return 0, false
}

func sameDir(a, b string) bool {
	return filepath.Clean(a) == filepath.Clean(b)
}

// killHost sends sig to the host of home and waits until it has ended. It
// reports an error if the host does not run or does not end in time.
func killHost(home string, sig syscall.Signal, timeout time.Duration) error {
	pid, ok := hostPid(home)
	if !ok {
		return fmt.Errorf("no bgjob host runs on %s (host.pid missing, stale or not a bgjobd)", home)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("kill -%d %d: %w", sig, pid, err)
	}
	if !waitGone(pid, timeout) {
		return fmt.Errorf("the host %d was sent signal %d but still runs after %v", pid, sig, timeout)
	}
	return nil
}

// stopHost ends the host of home if one runs: SIGTERM, then SIGKILL.
func stopHost(home string) {
	pid, ok := hostPid(home)
	if !ok {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(pid, 5*time.Second) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone(pid, 5*time.Second)
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	if dir == "" || path == "" {
		return false
	}
	path, dir = filepath.Clean(path), filepath.Clean(dir)
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// related lists the live processes that belong to one of dirs: their
// working directory is inside one, or their command line or an environment
// value names a path inside one. That covers the host (-home, and the
// caller's environment it inherits), runtime plugins (their socket
// directory and log file are in the home; their working directory is the
// job's) and what jobs started (the caller's environment, the workdir).
func related(dirs ...string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 1 || !alive(pid) {
			continue
		}
		if procRelated(pid, dirs) {
			out = append(out, pid)
		}
	}
	return out
}

func procRelated(pid int, dirs []string) bool {
	match := func(s string) bool {
		for _, d := range dirs {
			if under(s, d) {
				return true
			}
		}
		return false
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && match(cwd) {
		return true
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		for _, a := range strings.Split(string(b), "\x00") {
			if match(a) {
				return true
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil {
		for _, kv := range strings.Split(string(b), "\x00") {
			_, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			for _, p := range strings.Split(v, ":") {
				if match(p) {
					return true
				}
			}
		}
	}
	return false
}

// killRelated SIGKILLs every process related to dirs and waits for them.
// It returns the pids it killed.
func killRelated(dirs ...string) []int {
	var killed []int
	for round := 0; round < 3; round++ {
		pids := related(dirs...)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed = append(killed, pid)
			}
		}
		for _, pid := range pids {
			waitGone(pid, 2*time.Second)
		}
	}
	return killed
}

// cleanupHome removes every job of the host on home (stopping running ones
// through the host, which ends their runtimes and processes properly), ends
// the host, and then kills whatever process is still tied to home or to the
// extra dirs (a test's work directory). env is the environment to run bgjob
// with. logf reports what had to be killed.
func cleanupHome(env []string, home string, extra []string, logf func(string, ...any)) {
	if _, err := os.Stat(filepath.Join(home, "jobs.db")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bins.Bgjob, "remove", "--force", "*")
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		var ee *exec.ExitError
		// Exit 3: no jobs left, which is fine.
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) {
			logf("cleanup: bgjob remove --force '*': %v\n%s", err, out.String())
		}
	}
	stopHost(home)
	if pids := killRelated(append([]string{home}, extra...)...); len(pids) > 0 {
		logf("cleanup: killed leftover processes %v", pids)
	}
}

// unixSocketPaths lists the filesystem paths of the unix sockets pid holds
// open that have one, from its fds and /proc/net/unix.
func unixSocketPaths(pid int) ([]string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(in, "]")] = true
		}
	}
	// The process's own network namespace.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/unix", pid))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var paths []string
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// Num RefCount Protocol Flags Type St Inode [Path]
		f := strings.Fields(line)
		if len(f) < 8 || !inodes[f[6]] {
			continue
		}
		p := f[7]
		if strings.HasPrefix(p, "@") || seen[p] {
			continue
		}
		seen[p] = true
		paths = append(paths, p)
	}
	return paths, nil
}
