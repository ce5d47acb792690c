//go:build unix

package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
)

// A reused runtime process runs one job at a time, and the next job sees
// nothing of the last: not its variables, functions, working directory or
// file mode creation mask. Every job here leaves all of those changed, and
// every job must find them as new; $$ (the runtime process's pid) showing
// again shows that processes were reused.
func TestRealReuseIsolates(t *testing.T) {
	th := realHost(t)
	dir := t.TempDir()
	mask := uint32(0o022)
	seen := map[string]bool{}
	reused := false
	for i := 0; i < 6; i++ {
		time.Sleep(50 * time.Millisecond) // the last job's process is back in the pool
		j := th.Start(`echo "pid=$$"; echo "X=${X-unset} Y=${Y-unset}"; type f >/dev/null 2>&1 && echo "f=defined" || echo "f=unset"; pwd; umask
X=leaked; f() { echo fn; }; export Y=leaked; cd /; umask 0`, inDir(dir), func(r *api.StartRequest) { r.Umask = &mask })
		id := strconv.FormatUint(j.ID, 10)
		th.Await(id)
		out := th.Take([]string{id}, host.ReceiveOptions{}).Texts()
		if len(out) == 0 {
			t.Fatalf("job %s said nothing", id)
		}
		if want := []string{out[0], "X=unset Y=unset", "f=unset", dir, "0022"}; !equalStrings(out, want) {
			t.Errorf("job %s saw %q, want %q", id, out, want)
		}
		reused = reused || seen[out[0]]
		seen[out[0]] = true
	}
	if !reused {
		t.Errorf("six jobs ran in six processes %v: none was reused", seen)
	}
}

// Consecutive short jobs are served by one reused process: no process is
// started per job.
func TestRealReuseServesConsecutiveJobs(t *testing.T) {
	th := realHost(t)
	pids := map[string]bool{}
	for i := 0; i < 6; i++ {
		time.Sleep(50 * time.Millisecond) // the last job's process is back in the pool
		j := th.Start(`echo $$`)
		th.Await(strconv.FormatUint(j.ID, 10))
		out := th.Take([]string{strconv.FormatUint(j.ID, 10)}, host.ReceiveOptions{}).Texts()
		if len(out) == 1 {
			pids[out[0]] = true
		}
	}
	// Without reuse each job takes the spare started behind the last one:
	// six processes. With it, the first job's process (and the spares
	// started while it was busy) serve them all.
	if len(pids) > 3 {
		t.Errorf("six consecutive jobs ran in %d processes %v; a reused process should serve them", len(pids), pids)
	}
}

// A batch's process children (--processes), five at a time, are served by the processes that
// ran the children before them: each child's process is back in the pool
// before the next child starts. (When the next child started first, it
// found no process ready and started its own, and the one coming back was
// ended for want of room: 1000 children started 256 processes.)
func TestRealReuseBatchChildren(t *testing.T) {
	th := realHost(t)
	items := make([]string, 60)
	for i := range items {
		items[i] = strconv.Itoa(i + 1)
	}
	j := th.Start(`echo $$`, func(r *api.StartRequest) { r.ForEach, r.Processes = items, true })
	id := strconv.FormatUint(j.ID, 10)
	th.Await(id)
	out := th.Take([]string{id}, host.ReceiveOptions{}).Texts()
	if len(out) != len(items) {
		t.Fatalf("%d children said %d lines, want one each", len(items), len(out))
	}
	pids := map[string]bool{}
	for _, pid := range out {
		pids[pid] = true
	}
	// Five run at once; the first child's spare may serve one too, and a
	// process that cannot be offered back in time is replaced now and
	// then, but not child after child.
	if len(pids) > 8 {
		t.Errorf("60 children, 5 at a time, ran in %d processes; their processes should serve the next children", len(pids))
	}
}

// A process whose job was stopped, or that failed with the runtime's own
// error, is never given another job.
func TestRealNoReuseAfterStop(t *testing.T) {
	th := realHost(t, stopGrace(300*time.Millisecond))
	dir := t.TempDir()
	th.Start(`echo $$ > pid; echo started; sleep 100`, inDir(dir))
	th.WaitOutput("1", "started")
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := strings.TrimSpace(string(b))
	if _, err := th.Stop(context.Background(), []string{"1"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		j := th.Start(`echo $$`)
		id := strconv.FormatUint(j.ID, 10)
		th.Await(id)
		if out := th.Take([]string{id}, host.ReceiveOptions{}).Texts(); len(out) == 1 && out[0] == stopped {
			t.Fatalf("job %s ran in process %s, whose job was stopped", id, stopped)
		}
	}
}

// Jobs running at once never share a process.
func TestRealReuseOneJobAtATime(t *testing.T) {
	th := realHost(t)
	dir := t.TempDir()
	// Each job writes its process's id to a file of its own: appends to
	// one file from three jobs at once could interleave the shell's
	// writes of a number and its newline.
	for i := 0; i < 3; i++ {
		th.Start(`echo $$ > pid.$BGJOB_JOB_ID.tmp && mv pid.$BGJOB_JOB_ID.tmp pid.$BGJOB_JOB_ID; while [ ! -e go ]; do sleep 0.02; done`, inDir(dir))
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var pids []string
		for id := 1; id <= 3; id++ {
			if b, err := os.ReadFile(filepath.Join(dir, fmt.Sprint("pid.", id))); err == nil {
				pids = append(pids, strings.TrimSpace(string(b)))
			}
		}
		if len(pids) == 3 {
			if pids[0] == pids[1] || pids[1] == pids[2] || pids[0] == pids[2] {
				t.Errorf("running jobs shared a process: %q", pids)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("three jobs did not start: %q", pids)
		}
	}
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	th.Await("*")
}
