//go:build linux

package integration

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procStat is what these tests read of /proc/PID/stat.
type procStat struct {
	pid, ppid int
	state     byte
}

// procs lists every process with its parent and state, and its command
// line.
func procs(t *testing.T) (map[int]procStat, map[int]string) {
	t.Helper()
	names, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	stats, cmds := map[int]procStat{}, map[int]string{}
	for _, dir := range names {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := bytes.Fields(b[i+1:])
		if i < 0 || len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		stats[pid] = procStat{pid, ppid, f[0][0]}
		c, _ := os.ReadFile(dir + "/cmdline")
		cmds[pid] = strings.Join(strings.Split(strings.TrimRight(string(c), "\x00"), "\x00"), " ")
	}
	return stats, cmds
}

// TestReusedRuntimeLeavesNoLeftovers: job A starts a process that leaves its
// process group and session (setsid) and completes; the runtime process is
// reused for job B, which must not find that process (nor may it be
// anywhere: it is ended with A), and no zombie of it is left.
func TestReusedRuntimeLeavesNoLeftovers(t *testing.T) {
	h := newHome(t)
	work := t.TempDir()
	// A sleep no other test runs, to be found by its command line.
	mark := fmt.Sprintf("sleep 300.%06d", rand.Intn(1_000_000))
	h.run("start", "--name", "A", "--workdir", work, "--",
		`sh -c 'echo $PPID' > a.ppid; setsid `+mark+` >/dev/null 2>&1 </dev/null & sleep 0.3; exit 0`)
	if out := h.run("wait", "A"); !regexpMatch(`(?m)^1 +A +BackgroundJob +Completed `, out) {
		t.Fatalf("job A did not complete:\n%s", out)
	}
	// The host takes the process back for the next job once A's end is
	// acknowledged.
	time.Sleep(200 * time.Millisecond)
	h.run("start", "--name", "B", "--workdir", work, "--",
		`sh -c 'echo $PPID' > b.ppid; for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline 2>/dev/null; echo; done > b.seen; exit 0`)
	if out := h.run("wait", "B"); !regexpMatch(`(?m)^2 +B +BackgroundJob +Completed `, out) {
		t.Fatalf("job B did not complete:\n%s", out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	rt := read("a.ppid")
	if b := read("b.ppid"); b != rt {
		t.Fatalf("job B ran in runtime process %s, not in A's (%s): the process was not reused", b, rt)
	}
	if strings.Contains(read("b.seen"), mark) {
		t.Errorf("job B, in A's reused runtime process %s, sees A's leftover %q", rt, mark)
	}
	stats, cmds := procs(t)
	for pid, c := range cmds {
		if strings.Contains(c, mark) {
			t.Errorf("A's leftover %q (pid %d, parent %d, state %c) outlived job A", mark, pid, stats[pid].ppid, stats[pid].state)
		}
	}
	rtPid, _ := strconv.Atoi(rt)
	for _, st := range stats {
		if st.ppid == rtPid && st.state == 'Z' {
			t.Errorf("the runtime process %d has a zombie child %d (%s)", rtPid, st.pid, cmds[st.pid])
		}
	}
}
