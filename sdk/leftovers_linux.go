package sdk

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// becomeSubreaper makes this process the one its descendants are
// re-parented to when their parent ends, rather than init, and starts
// reaping those that exit (else they would stay zombies until their job
// ends).
func becomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("cannot make the runtime a child subreaper: %w", err)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	go func() {
		for range ch {
			reapStrays()
			// Many children end in a busy job: one pass per 100 ms is
			// enough to keep zombies from piling up.
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return nil
}

// subreaperSupported: on Linux, orphans can be made to come back.
const subreaperSupported = true

// stray is a child of this process that the runtime did not start (a job's
// process re-parented to it), or started and no longer waits for.
type stray struct {
	pid, pgid int
	zombie    bool
}

// strays lists this process's children that are not its own. Call it with
// children.gate held for writing.
func strays() ([]stray, error) {
	if noChildren() {
		return nil, nil
	}
	self := os.Getpid()
	names, err := childPids()
	if err != nil {
		return nil, err
	}
	var out []stray
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...: comm may hold anything, so
		// the fields are read after its last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		if ppid != self || ownChild(pid) {
			continue
		}
		pgid, _ := strconv.Atoi(string(f[2]))
		out = append(out, stray{pid: pid, pgid: pgid, zombie: f[0][0] == 'Z'})
	}
	return out, nil
}

// reapStrays waits for the strays that have exited.
func reapStrays() {
	children.gate.Lock()
	defer children.gate.Unlock()
	ss, _ := strays()
	for _, s := range ss {
		if s.zombie {
			reap(s.pid)
		}
	}
}

func reap(pid int) {
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
}

// endStrays ends every stray: SIGTERM (and SIGCONT, so that a stopped one
// gets it) as it is found, SIGKILL once grace has passed; each is reaped.
// A stray's own children come back to this process as it ends, and are
// ended in turn. It returns how many it ended, and false if some were
// still there a while after SIGKILL (a process stuck in the kernel).
func endStrays(grace time.Duration) (int, bool) {
	killAt := time.Now().Add(grace)
	giveUp := killAt.Add(2 * time.Second)
	termed := map[int]bool{}
	for {
		children.gate.Lock()
		ss, err := strays()
		live := 0
		kill := time.Now().After(killAt)
		for _, s := range ss {
			if s.zombie {
				reap(s.pid)
				continue
			}
			live++
			// A stray's pid cannot be reused while it is our unreaped
			// child; its group, if it leads one, is of its own making.
			sig := unix.SIGTERM
			switch {
			case kill:
				sig = unix.SIGKILL
			case termed[s.pid]:
				continue
			}
			termed[s.pid] = true
			_ = unix.Kill(s.pid, sig)
			if s.pgid == s.pid {
				_ = unix.Kill(-s.pid, sig)
			}
			if sig == unix.SIGTERM {
				_ = unix.Kill(s.pid, unix.SIGCONT)
			}
		}
		children.gate.Unlock()
		switch {
		case err != nil:
			return len(termed), false // cannot see them: cannot vouch
		case live == 0:
			return len(termed), true
		case time.Now().After(giveUp):
			return len(termed), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noChildren reports whether this process has no child at all, running
// or exited (waitid says ECHILD, and WNOWAIT leaves any it finds to its
// waiter): then no job left anything, and the look through every thread's
// children, a few syscalls a thread on the way to each job's end, is
// skipped. It is the kernel's answer, so a child started some other way
// than StartChild is still seen.
func noChildren() bool {
	var info unix.Siginfo
	return unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil) == unix.ECHILD
}

// childPids lists candidates for this process's children: from each
// thread's children file, cheap to read (this runs at every job's end),
// or, on a kernel without those files, every process there is.
func childPids() ([]string, error) {
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		var pids []string
		found := false
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
			if err != nil {
				continue // a thread that ended meanwhile, or no such file
			}
			found = true
			for _, f := range bytes.Fields(b) {
				pids = append(pids, string(f))
			}
		}
		if found {
			return pids, nil
		}
		// None could be read: a kernel without them (CONFIG_PROC_CHILDREN).
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}
