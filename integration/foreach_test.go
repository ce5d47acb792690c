//go:build unix

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestForEachKilledMidBatch kills the host with -9 while a batch of short
// children (start --foreach) is going through, at whatever point it has
// reached, twice, and checks that every item ran exactly once: the
// children that had not begun started after the restart, those running or
// ending then were taken back and not run again. Each child appends its
// item to a file (one write, atomic with O_APPEND).
func TestForEachKilledMidBatch(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("reads /proc to find the host")
	}
	for _, mode := range []string{"process", "thread"} {
		t.Run(mode, func(t *testing.T) {
			h := newHome(t)
			const n = 120
			var items strings.Builder
			for i := 1; i <= n; i++ {
				fmt.Fprintf(&items, "item%d\n", i)
			}
			ran := filepath.Join(h.dir, "ran")
			args := []string{"start", "-q", "--foreach", "-", "--throttle-limit", "4", "--name", "B"}
			if mode == "process" {
				args = append(args, "--processes")
			}
			// A short sleep, so the kills land mid-batch.
			args = append(args, "--", fmt.Sprintf(`/bin/echo "$1" >> %s; sleep 0.02`, ran))
			if code, out, errOut := h.exec(items.String(), args...); code != 0 {
				t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
			}
			for _, at := range []int{10, 60} {
				waitRan(t, ran, at)
				if err := killHost(h.path, syscall.SIGKILL, 10*time.Second); err != nil {
					t.Fatal(err)
				}
				h.run("get") // a new host, which takes the batch back
			}
			out := h.run("wait", "--timeout", "120", "B")
			if !strings.Contains(out, "Completed") {
				t.Fatalf("the batch did not complete:\n%s\n%s", out, h.run("get", "--include-child-jobs", "B"))
			}
			b, err := os.ReadFile(ran)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Fields(string(b))
			sort.Strings(got)
			count := map[string]int{}
			for _, it := range got {
				count[it]++
			}
			for i := 1; i <= n; i++ {
				if c := count[fmt.Sprintf("item%d", i)]; c != 1 {
					t.Errorf("item%d ran %d times", i, c)
				}
			}
			if len(got) != n {
				t.Errorf("%d runs for %d items", len(got), n)
			}
		})
	}
}

// waitRan waits until file holds at least n lines.
func waitRan(t *testing.T, file string, n int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(file)
		if strings.Count(string(b), "\n") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has fewer than %d lines after a minute", file, n)
		}
	}
}
