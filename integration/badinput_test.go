//go:build unix

package integration

import (
	"context"
	"strings"
	"testing"
	"time"
)

// An endless --input-file (/dev/zero) is refused as soon as the limit is
// passed, with exit 2 naming the flag and the limit: the CLI never holds
// more than the limit and a byte of it, and nothing reaches the host.
func TestInputFileEndless(t *testing.T) {
	h := newHome(t)
	h.run("get") // the host is up: its start is not timed here
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := h.cmd(ctx, "start", "--input-file", "/dev/zero", "--", "wc -c")
	var stderr strings.Builder
	c.Stderr = &stderr
	begin := time.Now()
	err := c.Run()
	took := time.Since(begin)
	if ctx.Err() != nil {
		t.Fatalf("bgjob start --input-file /dev/zero still ran after %v", took)
	}
	if code := c.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit %d (%v), want 2; stderr:\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "--input-file") || !strings.Contains(stderr.String(), "64 MiB") {
		t.Errorf("stderr does not name --input-file and the limit:\n%s", stderr.String())
	}
	if took > 5*time.Second {
		t.Errorf("refusing took %v, want well under 5s", took)
	}
	if jobs := h.jobs(); len(jobs) != 0 {
		t.Errorf("a job was made: %+v", jobs)
	}
}
