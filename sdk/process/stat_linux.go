package process

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// stat is what bgjob needs of /proc/PID/stat.
type stat struct {
	state byte // R, S, D, Z, X, ...
	pgrp  int
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
	if len(f) < 3 || len(f[0]) != 1 {
		return stat{}, false
	}
	pg, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return stat{}, false
	}
	return stat{state: f[0][0], pgrp: pg}, true
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

// GroupAlive reports whether process group pgid has a member that is not a
// zombie. It scans /proc, so it costs a read per process on the machine:
// call it when a group is expected to be gone, not in a hot loop.
func GroupAlive(pgid int) bool {
	// A group with no members at all cannot be signalled: no scan needed.
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	d, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return true
	}
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		if s, ok := readStat(name); ok && s.pgrp == pgid && living(s) {
			return true
		}
	}
	return false
}
