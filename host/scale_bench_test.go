package host_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
	"github.com/bgjob/bgjob/host/store"
)

// BenchmarkTable100k is the host with 100 000 finished jobs in its table:
// how long it takes to start, what it holds in memory, and how long a
// listing of the newest 20 and of all of them take. The rows are written
// straight into the table (making 100 000 jobs one by one would take
// minutes), as finished jobs with small logs would leave them.
func BenchmarkTable100k(b *testing.B) {
	const n = 100_000
	home := hosttest.Home(b)
	fillTable(b, home, n)
	opts, _ := hosttest.Fake(b)
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		th := hosttest.Open(b, home, opts)
		start := time.Since(t0)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		ctx := context.Background()
		t0 = time.Now()
		newest, err := th.Jobs(ctx, nil, &api.Filter{Newest: 20})
		newestTook := time.Since(t0)
		t0 = time.Now()
		all, err2 := th.Jobs(ctx, nil, nil)
		allTook := time.Since(t0)
		if err != nil || err2 != nil || len(newest) != 20 || len(all) != n {
			b.Fatalf("listings: %d %v, %d %v", len(newest), err, len(all), err2)
		}
		b.ReportMetric(float64(start.Milliseconds()), "start-ms")
		b.ReportMetric(float64(after.HeapInuse-min(before.HeapInuse, after.HeapInuse))/(1<<20), "heap-MiB")
		b.ReportMetric(float64(newestTook.Microseconds())/1000, "newest20-ms")
		b.ReportMetric(float64(allTook.Microseconds())/1000, "all-ms")
		th.Close()
	}
	_ = host.DefaultMaxRunning
}

// fillTable writes n finished jobs straight into the job table at home.
func fillTable(b *testing.B, home string, n int) {
	b.Helper()
	writeRows(b, home, n, func(*store.Row) {})
}

// fillQueue writes n jobs waiting to run straight into the job table at
// home, in a group held at 0.
func fillQueue(b *testing.B, home string, n int) {
	b.Helper()
	writeRows(b, home, n, func(r *store.Row) {
		r.State, r.Group, r.PSBeginTime, r.PSEndTime, r.ExitCode = api.NotStarted, "held", nil, nil, nil
	})
	st, err := store.Open(home + "/jobs.db")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.PutSettings(store.Settings{MaxRunning: map[string]int{"held": 0}}); err != nil {
		b.Fatal(err)
	}
}

// writeRows writes n jobs straight into the job table at home: finished
// ones, as edit changes them.
func writeRows(b *testing.B, home string, n int, edit func(*store.Row)) {
	b.Helper()
	st, err := store.Open(home + "/jobs.db")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	code := 0
	var rows []*store.Row
	for i := 1; i <= n; i++ {
		r := &store.Row{Spec: &store.Spec{Runtime: "/c/shell/2.0.0/linux_amd64/bgjob-shell", SHA256: "00"}}
		r.Job = api.Job{ID: uint64(i), Name: fmt.Sprintf("Job%d", i), InstanceID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			PSJobTypeName: "BackgroundJob", State: api.Completed, Location: "localhost", Command: "echo hi",
			PSBeginTime: &now, PSEndTime: &now, ChildJobs: []uint64{}, Workdir: "/tmp", User: "u", Owner: "u",
			ExitCode: &code, Created: now}
		edit(r)
		rows = append(rows, r)
		if len(rows) == 10_000 {
			if err := st.Put(rows...); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	st.Close()
}

// BenchmarkTableScale is what a submit, a `get --newest 20` and a whole
// `start --wait echo hi` (submit, run on the fake launcher, receive,
// remove) cost in the host with 0, 10 000 and 100 000 finished jobs in
// its table (jobs=N), and with as many jobs queued in a held group
// (queued=N): none of them may grow with the table or the queue.
func BenchmarkTableScale(b *testing.B) {
	// The queue's self-check (lanes.go) would cost every look the queue's
	// size; it is for the tests.
	b.Setenv("BGJOB_STRICT_STATES", "")
	for _, tc := range []struct {
		kind string
		n    int
		fill func(*testing.B, string, int)
	}{
		{"jobs", 0, nil}, {"jobs", 10_000, fillTable}, {"jobs", 100_000, fillTable},
		{"queued", 10_000, fillQueue}, {"queued", 100_000, fillQueue},
	} {
		n := tc.n
		home := hosttest.Home(b)
		if tc.fill != nil {
			tc.fill(b, home, n)
		}
		opts, _ := hosttest.Fake(b)
		opts.MaxRunning = 1 << 20
		th := hosttest.Open(b, home, opts)
		dir := b.TempDir()
		ctx := context.Background()
		b.Run(fmt.Sprintf("%s=%d/submit", tc.kind, n), func(b *testing.B) {
			for b.Loop() {
				if _, err := th.Host.Start(ctx, &api.StartRequest{Script: "true", Workdir: dir, Env: hosttest.JobEnv}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s=%d/newest20", tc.kind, n), func(b *testing.B) {
			all, err := th.Jobs(ctx, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			want := min(20, len(all))
			for b.Loop() {
				if js, err := th.Jobs(ctx, nil, &api.Filter{Newest: 20}); err != nil || len(js) != want {
					b.Fatalf("get --newest 20: %d jobs, %v", len(js), err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s=%d/e2e", tc.kind, n), func(b *testing.B) {
			for b.Loop() {
				v, err := th.Host.Start(ctx, &api.StartRequest{Script: "echo hi", Workdir: dir, Env: hosttest.JobEnv})
				if err != nil {
					b.Fatal(err)
				}
				sink := &hosttest.Sink{}
				if err := th.Host.Receive(ctx, []string{fmt.Sprint(v.ID)}, host.ReceiveOptions{Wait: true, AutoRemove: true}, sink); err != nil {
					b.Fatal(err)
				}
			}
		})
		th.Close()
	}
}
