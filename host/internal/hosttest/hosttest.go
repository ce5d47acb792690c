// Package hosttest drives a host in tests: a host in a short temporary
// home, helpers for starting, waiting and receiving, and a sink that checks
// what it receives. By default the host runs jobs with the fake launcher
// (package fakert) over a catalog whose runtime is never executed; tests of
// what crosses a real process boundary build the shell runtime with
// BuildShell and use the real launcher.
package hosttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/sdk"
)

// JobEnv is the environment jobs get; the host passes a job exactly what it
// is given, so without a PATH a job finds no external command.
var JobEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"}

// Home returns a new, short home directory (the host's socket must fit a
// unix socket address), removed after the test.
func Home(t testing.TB) string {
	t.Helper()
	home, err := os.MkdirTemp("", "bgh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	return home
}

// Fake returns options for a host that runs jobs with a new fake launcher
// over a fakert.Catalog, and the launcher. Reuse the options to open the same
// home again: the fake processes outlive the host, as runtimes do.
func Fake(t testing.TB) (host.Options, *fakert.Launcher) {
	l := fakert.New()
	return host.Options{Launcher: l, Runtimes: fakert.Catalog(t), StopGrace: 200 * time.Millisecond}, l
}

// Host is a host under test.
type Host struct {
	*host.Host
	T    testing.TB
	Dir  string // the home
	mu   sync.Mutex
	done bool
}

// Open opens a host on home (a new home if empty) with opts. The test's
// cleanup stops the host's unfinished jobs and closes it, unless the test
// closed it first.
func Open(t testing.TB, home string, opts host.Options) *Host {
	t.Helper()
	if home == "" {
		home = Home(t)
	}
	opts.Home = home
	h, err := host.Open(opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", home, err)
	}
	th := &Host{Host: h, T: t, Dir: home}
	t.Cleanup(th.shutdown)
	return th
}

// shutdown stops what still runs and closes the host (once).
func (th *Host) shutdown() {
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.done {
		return
	}
	th.done = true
	jobs, err := th.Jobs(context.Background(), nil, nil)
	if err != nil {
		th.T.Errorf("cleanup: Jobs: %v", err)
	}
	var sel []string
	for _, j := range jobs {
		if !j.State.Finished() {
			sel = append(sel, fmt.Sprint(j.ID))
		}
	}
	if len(sel) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := th.Stop(ctx, sel); err != nil {
			th.T.Errorf("cleanup: Stop(%v): %v", sel, err)
		}
		cancel()
	}
	if err := th.Host.Close(); err != nil {
		th.T.Errorf("cleanup: Close: %v", err)
	}
}

// Close closes the host, leaving its jobs' runtimes running.
func (th *Host) Close() {
	th.T.Helper()
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.done {
		return
	}
	th.done = true
	if err := th.Host.Close(); err != nil {
		th.T.Fatalf("Close: %v", err)
	}
}

// Start starts script in a fresh working directory; mods adjust the request
// first.
func (th *Host) Start(script string, mods ...func(*api.StartRequest)) *api.Job {
	th.T.Helper()
	req := &api.StartRequest{Script: script, Workdir: th.T.TempDir(), Env: JobEnv}
	for _, m := range mods {
		m(req)
	}
	j, err := th.Host.Start(context.Background(), req)
	if err != nil {
		th.T.Fatalf("Start(%q): %v", script, err)
	}
	return j
}

// Named sets the job's name.
func Named(name string) func(*api.StartRequest) {
	return func(r *api.StartRequest) { r.Name = name }
}

// InDir sets the job's working directory.
func InDir(dir string) func(*api.StartRequest) {
	return func(r *api.StartRequest) { r.Workdir = dir }
}

// Job returns one job by selector.
func (th *Host) Job(sel string) *api.Job {
	th.T.Helper()
	js, err := th.Jobs(context.Background(), []string{sel}, nil)
	if err != nil {
		th.T.Fatalf("Jobs(%s): %v", sel, err)
	}
	if len(js) != 1 {
		th.T.Fatalf("Jobs(%s) = %d jobs, want 1", sel, len(js))
	}
	return js[0]
}

// Await waits (at most 30 s) until the selected jobs have finished.
func (th *Host) Await(sel ...string) []*api.Job {
	th.T.Helper()
	js, err := th.Wait(context.Background(), sel, false, 30*time.Second)
	if err != nil {
		th.T.Fatalf("Wait(%v): %v", sel, err)
	}
	return js
}

// Take receives from sel with o and returns what came.
func (th *Host) Take(sel []string, o host.ReceiveOptions) *Sink {
	th.T.Helper()
	s := &Sink{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := th.Receive(ctx, sel, o, s); err != nil {
		th.T.Fatalf("Receive(%v, %+v): %v", sel, o, err)
	}
	s.Check(th.T)
	return s
}

// WaitOutput polls (draining nothing) until the job's output holds want.
func (th *Host) WaitOutput(sel, want string) {
	th.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := &Sink{}
		if err := th.Receive(context.Background(), []string{sel}, host.ReceiveOptions{Keep: true}, s); err != nil {
			th.T.Fatalf("Receive(%s): %v", sel, err)
		}
		for _, l := range s.Texts() {
			if l == want {
				return
			}
		}
		if time.Now().After(deadline) {
			th.T.Fatalf("job %s did not print %q within 20s; it printed %q (state %s)", sel, want, s.Texts(), th.Job(sel).State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Line is one record as a user sees it: a chunk record is one line per
// record it stands for.
type Line struct {
	Job    uint64
	Seq    uint64
	Stream sdk.Stream
	Text   string
}

// Sink collects received records, expanding chunks into their lines.
type Sink struct {
	mu      sync.Mutex
	Lines   []Line
	Flushes int
	errs    []string
}

func (s *Sink) Record(jobID uint64, r *sdk.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Chunk == nil {
		s.Lines = append(s.Lines, Line{jobID, r.Seq, r.Stream, r.Message})
		return nil
	}
	parts := strings.Split(strings.TrimSuffix(string(r.Chunk), "\n"), "\n")
	if len(parts) != int(r.Count) {
		s.errs = append(s.errs, fmt.Sprintf("job %d: chunk record seq %d has Count %d but %d lines: %q", jobID, r.Seq, r.Count, len(parts), r.Chunk))
	}
	for i, p := range parts {
		s.Lines = append(s.Lines, Line{jobID, r.Seq + uint64(i), r.Stream, p})
	}
	return nil
}

func (s *Sink) Flush() error {
	s.mu.Lock()
	s.Flushes++
	s.mu.Unlock()
	return nil
}

// Check reports a chunk whose count did not match its lines.
func (s *Sink) Check(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Error(e)
	}
}

// Texts returns the lines' texts.
func (s *Sink) Texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, l := range s.Lines {
		out = append(out, l.Text)
	}
	return out
}

// IDs returns the jobs' ids.
func IDs(js []*api.Job) []uint64 {
	out := []uint64{}
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

// Touch creates an empty file name in dir.
func Touch(t testing.TB, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
