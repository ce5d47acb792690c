package host_test

import (
	"context"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// BenchmarkStart is the host's share of `bgjob start`: a request in, a row
// out, with the real job table, catalog and files, and the fake launcher
// (the runtime's start is the launcher's business, measured elsewhere).
func BenchmarkStart(b *testing.B) {
	opts, _ := hosttest.Fake(b)
	opts.MaxRunning = 1 << 20
	th := hosttest.Open(b, "", opts)
	dir := b.TempDir()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := th.Host.Start(ctx, &api.StartRequest{Script: "true", Workdir: dir, Env: hosttest.JobEnv}); err != nil {
			b.Fatal(err)
		}
	}
}
