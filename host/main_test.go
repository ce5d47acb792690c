package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/sdk"
)

// The tests drive a real host: the real shell runtime plugin, built once by
// TestMain and installed into a catalog every test shares.
var (
	runtimesDir string // the catalog root
	shellBinary string // the plugin as built, outside the catalog
	shellEntry  *catalog.Entry
)

// jobEnv is the environment jobs get; the host passes the job exactly what
// it is given, so without a PATH a job finds no external command.
var jobEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"}

func TestMain(m *testing.M) {
	if os.Getenv(envPeerHelper) != "" {
		os.Exit(peerHelper())
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "bghost")
	if err != nil {
		fmt.Fprintln(os.Stderr, "host test:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "host test: go env GOMOD:", err)
		return 1
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		fmt.Fprintln(os.Stderr, "host test: not inside the bgjob module")
		return 1
	}
	shellBinary = filepath.Join(tmp, "bin", "bgjob-shell")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", shellBinary, "github.com/bgjob/bgjob/cmd/bgjob-shell")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "host test: go build bgjob-shell: %v\n%s", err, out)
		return 1
	}
	runtimesDir = filepath.Join(tmp, "catalog")
	shellEntry, err = catalog.Open(runtimesDir).Install(ctx, shellBinary)
	if err != nil {
		fmt.Fprintln(os.Stderr, "host test: install the shell runtime:", err)
		return 1
	}
	code := m.Run()
	reapStrays()
	return code
}

// homes are the homes tests made, for reapStrays.
var (
	homesMu sync.Mutex
	homes   []string
)

// reapStrays ends runtime processes the tests' hosts left behind: a host
// ends its spare runtimes only some time after Close (see
// TestCloseLeavesNoSpareBehind), which is after this process has exited.
func reapStrays() {
	homesMu.Lock()
	defer homesMu.Unlock()
	deadline := time.Now().Add(3 * time.Second)
	for _, home := range homes {
		prefix := filepath.Join(home, "run") + string(filepath.Separator)
		for len(pluginPids(prefix)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, pid := range pluginPids(prefix) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// pluginPids returns the pids of live processes (not this one) whose plugin
// socket directory lies under prefix; none where there is no /proc.
func pluginPids(prefix string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || isZombie(pid) {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(kv, "PLUGIN_UNIX_SOCKET_DIR="+prefix) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// testHome returns a new, short home directory (the host's socket must
// fit a unix socket address), removed after the test.
func testHome(t *testing.T) string {
	t.Helper()
	home, err := os.MkdirTemp("", "bgh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	homesMu.Lock()
	homes = append(homes, home)
	homesMu.Unlock()
	return home
}

// testHost is a Host under test with what the test's cleanup needs.
type testHost struct {
	*Host
	t      *testing.T
	home   string
	mu     sync.Mutex
	closed bool
}

// openHost opens a host on home (a new home if empty). The test's cleanup
// stops the host's unfinished jobs and closes it, unless the test closed it.
func openHost(t *testing.T, home string, opts Options) *testHost {
	t.Helper()
	if home == "" {
		home = testHome(t)
	}
	opts.Home = home
	if opts.Runtimes == "" {
		opts.Runtimes = runtimesDir
	}
	h, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", home, err)
	}
	th := &testHost{Host: h, t: t, home: home}
	t.Cleanup(th.shutdown)
	return th
}

// shutdown stops what still runs and closes the host (once).
func (th *testHost) shutdown() {
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.closed {
		return
	}
	th.closed = true
	jobs, err := th.Jobs(nil, nil)
	if err != nil {
		th.t.Errorf("cleanup: Jobs: %v", err)
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
			th.t.Errorf("cleanup: Stop(%v): %v", sel, err)
		}
		cancel()
	}
	if err := th.Host.Close(); err != nil {
		th.t.Errorf("cleanup: Close: %v", err)
	}
}

// close closes the host, leaving its jobs' runtimes running.
func (th *testHost) close() {
	th.t.Helper()
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.closed {
		return
	}
	th.closed = true
	if err := th.Host.Close(); err != nil {
		th.t.Fatalf("Close: %v", err)
	}
}

// start starts script in a fresh working directory; mods adjust the
// request first.
func (th *testHost) start(script string, mods ...func(*api.StartRequest)) *api.Job {
	th.t.Helper()
	req := &api.StartRequest{Script: script, Workdir: th.t.TempDir(), Env: jobEnv}
	for _, m := range mods {
		m(req)
	}
	j, err := th.Start(req)
	if err != nil {
		th.t.Fatalf("Start(%q): %v", script, err)
	}
	return j
}

func named(name string) func(*api.StartRequest) {
	return func(r *api.StartRequest) { r.Name = name }
}

// job returns one job by selector.
func (th *testHost) job(sel string) *api.Job {
	th.t.Helper()
	js, err := th.Jobs([]string{sel}, nil)
	if err != nil {
		th.t.Fatalf("Jobs(%s): %v", sel, err)
	}
	if len(js) != 1 {
		th.t.Fatalf("Jobs(%s) = %d jobs, want 1", sel, len(js))
	}
	return js[0]
}

// wait waits (at most 30 s) until the selected jobs have finished.
func (th *testHost) wait(sel ...string) []*api.Job {
	th.t.Helper()
	js, err := th.Wait(context.Background(), sel, false, 30*time.Second)
	if err != nil {
		th.t.Fatalf("Wait(%v): %v", sel, err)
	}
	return js
}

// receive receives from sel with o and returns what came.
func (th *testHost) receive(sel []string, o ReceiveOptions) *sink {
	th.t.Helper()
	s := &sink{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := th.Receive(ctx, sel, o, s); err != nil {
		th.t.Fatalf("Receive(%v, %+v): %v", sel, o, err)
	}
	s.check(th.t)
	return s
}

// waitOutput polls (draining nothing) until the job's output holds want.
func (th *testHost) waitOutput(sel, want string) {
	th.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := &sink{}
		if err := th.Receive(context.Background(), []string{sel}, ReceiveOptions{Keep: true}, s); err != nil {
			th.t.Fatalf("Receive(%s): %v", sel, err)
		}
		for _, l := range s.texts() {
			if l == want {
				return
			}
		}
		if time.Now().After(deadline) {
			th.t.Fatalf("job %s did not print %q within 20s; it printed %q (state %s)", sel, want, s.texts(), th.job(sel).State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// line is one record as a user sees it: a chunk record is one line per
// record it stands for.
type line struct {
	job    uint64
	seq    uint64
	stream sdk.Stream
	text   string
}

// sink collects received records, expanding chunks into their lines.
type sink struct {
	mu      sync.Mutex
	lines   []line
	flushes int
	errs    []string
}

func (s *sink) Record(jobID uint64, r *sdk.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Chunk == nil {
		s.lines = append(s.lines, line{jobID, r.Seq, r.Stream, r.Message})
		return nil
	}
	parts := strings.Split(strings.TrimSuffix(string(r.Chunk), "\n"), "\n")
	if len(parts) != int(r.Count) {
		s.errs = append(s.errs, fmt.Sprintf("job %d: chunk record seq %d has Count %d but %d lines: %q", jobID, r.Seq, r.Count, len(parts), r.Chunk))
	}
	for i, p := range parts {
		s.lines = append(s.lines, line{jobID, r.Seq + uint64(i), r.Stream, p})
	}
	return nil
}

func (s *sink) Flush() error {
	s.mu.Lock()
	s.flushes++
	s.mu.Unlock()
	return nil
}

func (s *sink) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Error(e)
	}
}

func (s *sink) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, l := range s.lines {
		out = append(out, l.text)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	if got := api.CodeOf(err); got != code {
		t.Errorf("%s: error %v has exit code %d, want %d", what, err, got, code)
	}
	var e *api.Error
	if code != api.ExitOK && !errors.As(err, &e) {
		t.Errorf("%s: error %v is not an *api.Error", what, err)
	}
}

func ids(js []*api.Job) []uint64 {
	out := []uint64{}
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

func idsEqual(a []uint64, b ...uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// touch creates an empty file name in dir.
func touch(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
