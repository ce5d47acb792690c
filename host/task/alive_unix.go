//go:build unix

package task

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// taskAlive reports whether the task's process is there, by the pid its
// launcher wrote (true while there is none yet: it is being launched).
func taskAlive(dir string, task int) bool {
	b, err := os.ReadFile(PidPath(dir, task))
	if err != nil {
		return true
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return true
	}
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return false
	}
	// A task that died is a zombie until its parent reaps it, which a
	// container's first process may never do.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
