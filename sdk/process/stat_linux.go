package process

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// stat is what bgjob needs of /proc/PID/stat.
type stat struct {
	state   byte // R, S, D, Z, X, ...
	pgrp    int
	session int
	start   uint64 // clock ticks after boot
}

// readStat reads /proc/PID/stat; false means there is no such process.
func readStat(pid string) (stat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return stat{}, false
	}
	return parseStat(b)
}

// parseStat parses "pid (comm) state ppid pgrp ...". The command name may
// hold spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (stat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return stat{}, false
	}
	pg, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return stat{}, false
	}
	sid, err := strconv.Atoi(string(f[3]))
	if err != nil {
		return stat{}, false
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return stat{}, false
	}
	return stat{state: f[0][0], pgrp: pg, session: sid, start: start}, true
}

func living(s stat) bool { return s.state != 'Z' && s.state != 'X' && s.state != 'x' }

// State returns the state letter of pid (R, S, D, T, Z, ...) and false if
// there is no such process.
func State(pid int) (byte, bool) {
	s, ok := readStat(strconv.Itoa(pid))
	return s.state, ok
}

// Alive reports whether pid is a process that has not ended: present and
// neither a zombie nor dead.
func Alive(pid int) bool {
	s, ok := readStat(strconv.Itoa(pid))
	return ok && living(s)
}

// StartTime returns when pid began (clock ticks after boot, as the kernel
// counts them), and false if there is no such live process. A pid is
// reused, a pid and its start time are not: together they name one process,
// which is how a supervisor that recorded both finds its own process again
// and leaves alone whatever reuses the number.
func StartTime(pid int) (uint64, bool) {
	s, ok := readStat(strconv.Itoa(pid))
	if !ok || !living(s) {
		return 0, false
	}
	return s.start, true
}

// GroupAlive reports whether process group pgid has a member that is not a
// zombie. It scans /proc, so it costs a read per process on the machine:
// call it when a group is expected to be gone, not in a hot loop.
func GroupAlive(pgid int) bool {
	// A group with no members at all cannot be signalled: no scan needed.
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	return len(members(func(s stat) bool { return s.pgrp == pgid })) > 0
}

// KillSession kills (SIGKILL) every live process of session sid, and
// returns how many it signalled. A runtime leads a session of its own, so
// the processes of its job, whatever process groups they made, are its
// session's: when the runtime dies without ending them, this does. A
// session whose leader still lives is not touched unless it is the caller's
// to end (leaderAlive false means the caller knows the leader is gone, or
// killed it), so that a pid reused by a new session leader is safe.
func KillSession(sid int) int {
	if sid <= 1 || Alive(sid) {
		return 0
	}
	n := 0
	for _, pid := range members(func(s stat) bool { return s.session == sid }) {
		if unix.Kill(pid, unix.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// members returns the pids of live processes that keep.
func members(keep func(stat) bool) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil
	}
	var pids []int
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		if s, ok := readStat(name); ok && living(s) && keep(s) {
			if pid, err := strconv.Atoi(name); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// SuspendSession stops (SIGSTOP) session sid: its leader first, so that it
// starts nothing more, then every other live member, twice over to catch a
// process forked while the first pass ran. It returns how many processes
// it stopped; an error if the leader is not there to stop.
func SuspendSession(sid int) (int, error) {
	if sid <= 1 {
		return 0, errors.New("no such session")
	}
	if err := unix.Kill(sid, unix.SIGSTOP); err != nil {
		return 0, err
	}
	stopped := map[int]bool{sid: true}
	for range 2 {
		for _, pid := range members(func(s stat) bool { return s.session == sid }) {
			if !stopped[pid] && unix.Kill(pid, unix.SIGSTOP) == nil {
				stopped[pid] = true
			}
		}
	}
	return len(stopped), nil
}

// SignalSession sends sig to every member of session sid but its leader
// (a job's runtime, which runs the job and is not the job's to end), and
// returns how many took it.
func SignalSession(sid int, sig syscall.Signal) (int, error) {
	if sid <= 1 {
		return 0, errors.New("no such session")
	}
	n := 0
	for _, pid := range members(func(s stat) bool { return s.session == sid }) {
		if pid != sid && unix.Kill(pid, sig) == nil {
			n++
		}
	}
	return n, nil
}

// ContinueSession continues (SIGCONT) every member of session sid, the
// leader last, so that what it waits for runs again before it does.
func ContinueSession(sid int) (int, error) {
	if sid <= 1 {
		return 0, errors.New("no such session")
	}
	n := 0
	for _, pid := range members(func(s stat) bool { return s.session == sid }) {
		if pid != sid && unix.Kill(pid, unix.SIGCONT) == nil {
			n++
		}
	}
	if err := unix.Kill(sid, unix.SIGCONT); err != nil {
		return n, err
	}
	return n + 1, nil
}
