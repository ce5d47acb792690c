package launch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
)

// The test binary doubles as a runtime plugin (go-plugin's helper-process
// pattern): with envPlugin set it serves instead of testing.
const envPlugin = "BGJOB_LAUNCH_TEST_PLUGIN"

// envReusable makes the test plugin say it is reusable.
const envReusable = "BGJOB_LAUNCH_TEST_REUSABLE"

func TestMain(m *testing.M) {
	if os.Getenv(envPlugin) != "" {
		sdk.Serve(&sdk.ServeConfig{Name: "launchtest", Version: "1.0.0", Runtime: sdk.RuntimeFunc(
			func(context.Context, *sdk.Job, sdk.Emitter) sdk.Result { return sdk.Success() }),
			Reusable: os.Getenv(envReusable) != ""})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestKey(t *testing.T) {
	base := Spec{Binary: "/c/shell", SHA256: "ab", Protocol: 2, OS: "linux", Arch: "amd64",
		Identity: Identity{UID: 1000, GID: 1000, Groups: []uint32{4, 27}}, Workdir: "/w", LogFile: "/l", Env: []string{"A=1"}}
	differ := map[string]func(*Spec){
		"binary":   func(s *Spec) { s.Binary = "/c/other" },
		"sha256":   func(s *Spec) { s.SHA256 = "cd" },
		"protocol": func(s *Spec) { s.Protocol = 1 },
		"arch":     func(s *Spec) { s.Arch = "386" },
		"os":       func(s *Spec) { s.OS = "darwin" },
		"uid":      func(s *Spec) { s.Identity.UID = 1001 },
		"gid":      func(s *Spec) { s.Identity.GID = 1001 },
		"groups":   func(s *Spec) { s.Identity.Groups = []uint32{4} },
	}
	for name, change := range differ {
		s := base
		change(&s)
		if keyOf(&s) == keyOf(&base) {
			t.Errorf("specs that differ in %s share a key: one process could serve the other", name)
		}
	}
	same := map[string]func(*Spec){
		"workdir":      func(s *Spec) { s.Workdir = "/x" },
		"log":          func(s *Spec) { s.LogFile = "/x" },
		"env":          func(s *Spec) { s.Env = nil },
		"groups order": func(s *Spec) { s.Identity.Groups = []uint32{27, 4} },
	}
	for name, change := range same {
		s := base
		s.Identity.Groups = append([]uint32(nil), base.Identity.Groups...)
		change(&s)
		if keyOf(&s) != keyOf(&base) {
			t.Errorf("specs that differ only in %s have different keys", name)
		}
	}
	if !(Identity{}).IsHost() || (Identity{UID: 1}).IsHost() || (Identity{Groups: []uint32{0}}).IsHost() {
		t.Error("IsHost: only the zero Identity is the host's own user")
	}
}

func testSpec(t *testing.T, dir string) *Spec {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Spec{Binary: self, SHA256: fileSHA(t, self), Protocol: 2, OS: "linux", Arch: "amd64", Workdir: dir,
		LogFile: filepath.Join(dir, "job.log"), Env: []string{envPlugin + "=1"}}
}

// The first Launch starts a process and a spare behind it; the next Launch
// of the same spec takes the spare, whose log becomes the job's; Close ends
// the spare that is left.
func TestGoPluginSpares(t *testing.T) {
	dir, err := os.MkdirTemp("", "bgl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "run"), 0o700)
	g := NewGoPlugin(Options{RunDir: filepath.Join(dir, "run"), LogDir: dir})
	defer g.Close()
	ctx := context.Background()
	p1, err := g.Launch(ctx, testSpec(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Release()
	if d, err := p1.Conn().Describe(ctx); err != nil || d.Name != "launchtest" || d.Pid != p1.Pid() {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	if a := p1.Attach(); a == nil || a.Pid != p1.Pid() || a.Protocol != 2 || a.Binary == "" || filepath.Dir(a.SockDir) != filepath.Join(dir, "run") {
		t.Errorf("Attach = %+v", a)
	}
	spare := waitSpare(t, g)
	spec2 := testSpec(t, dir)
	spec2.LogFile = filepath.Join(dir, "job2.log")
	p2, err := g.Launch(ctx, spec2)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Pid() != spare {
		t.Errorf("the second Launch started process %d; the spare %d was ready", p2.Pid(), spare)
	}
	if _, err := os.Stat(spec2.LogFile); err != nil {
		t.Errorf("the spare's log did not become the job's: %v", err)
	}
	p2.Release()
	if !p2.Exited() {
		t.Error("a released process still runs")
	}
	// A third spare is started behind the second; Close ends it.
	third := waitSpare(t, g)
	p1.Release()
	g.Close()
	for deadline := time.Now().Add(10 * time.Second); process.Alive(third); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the spare %d still runs after Close", third)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "run", "spare*")); len(left) != 0 {
		t.Errorf("Close left spare directories %v", left)
	}
}

// Jobs side by side (a batch's children, 5 at a time) each hold a process
// of the same spec. One whose job ends while the others run is kept even
// when more than maxIdle are idle, so that the next children find them,
// and no spare is started while another process of the spec is running a
// job: it comes back. (Before, a batch of 1000 children started 256
// processes: the ones coming back were ended for want of room while the
// next children started their own.)
func TestGoPluginReuseSideBySide(t *testing.T) {
	g, dir := newReuseLauncher(t, false)
	ctx := context.Background()
	n := 0
	spec := func() *Spec {
		n++
		s := testSpec(t, dir)
		s.LogFile = filepath.Join(dir, fmt.Sprintf("%d.log", n))
		s.Env = append(s.Env, envReusable+"=1")
		return s
	}
	// The first job's process gets a spare behind it, as any job's does.
	p1, err := g.Launch(ctx, spec())
	if err != nil {
		t.Fatal(err)
	}
	spare := waitSpare(t, g)
	running := []Process{p1}
	for len(running) < 5 {
		p, err := g.Launch(ctx, spec())
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, p)
		g.mu.Lock()
		idle, starting := len(g.spares[keyOf(spec())]), g.starting[keyOf(spec())]
		g.mu.Unlock()
		if idle != 0 || starting {
			t.Fatalf("job %d: %d spares idle, starting another: %v; want none while other jobs' processes run", len(running), idle, starting)
		}
	}
	if running[1].Pid() != spare {
		t.Errorf("the second job got process %d; the spare %d was ready", running[1].Pid(), spare)
	}
	// Three jobs end while two still run: all three processes are kept.
	back := map[int]bool{}
	for _, p := range running[:3] {
		if !p.(Recycler).Recycle() {
			t.Fatalf("process %d was not kept with %d idle", p.Pid(), len(back))
		}
		back[p.Pid()] = true
	}
	for i := 0; i < 3; i++ {
		p, err := g.Launch(ctx, spec())
		if err != nil {
			t.Fatal(err)
		}
		if !back[p.Pid()] {
			t.Errorf("job %d got process %d, not one of those that came back %v", 6+i, p.Pid(), back)
		}
		delete(back, p.Pid())
		defer p.Release()
	}
	for _, p := range running[3:] {
		p.Release()
	}
}

// newReuseLauncher is a launcher with its directories in a test's
// temporary directory, which it returns; noSpares starts none. It is
// closed when the test ends.
func newReuseLauncher(t *testing.T, noSpares bool) (*GoPlugin, string) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o700)
	g := NewGoPlugin(Options{RunDir: run, LogDir: dir, NoSpares: noSpares})
	t.Cleanup(func() { g.Close() })
	return g, dir
}

// The runtime's answer about reuse, which a job's end carries, decides
// whether its process is kept for the next job, without a Describe to ask
// again and before the end is acknowledged (the acknowledgement may then
// ride on the next Run); the answer is the last job's only: a new job's
// Run forgets it.
func TestGoPluginRecycleOnTheEndsAnswer(t *testing.T) {
	g, dir := newReuseLauncher(t, true)
	ctx := context.Background()
	spec := testSpec(t, dir)
	spec.Env = append(spec.Env, envReusable+"=1")
	p, err := g.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	r, ok := p.Conn().(protocol.Reuser)
	if !ok {
		t.Fatalf("a protocol 2 connection (%T) does not carry the end's answer", p.Conn())
	}
	runJob := func(id uint64) uint64 {
		t.Helper()
		st, err := p.Conn().Run(ctx, &sdk.Job{Id: id, Script: "true"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, known := r.TakesAnother(); known {
			t.Errorf("job %d: an answer is known before its end", id)
		}
		var last uint64
		for {
			b, err := st.Recv()
			if err != nil {
				t.Fatalf("job %d: %v", id, err)
			}
			last = max(last, b.GetLastSeq())
			if b.GetDone() != nil {
				return last
			}
		}
	}
	seq := runJob(1)
	if yes, known := r.TakesAnother(); !yes || !known {
		t.Fatalf("after the end: takes another %v, known %v; want both", yes, known)
	}
	if err := p.Conn().Ack(ctx, protocol.RunID{Job: 1}, seq, true); err != nil {
		t.Fatal(err)
	}
	if yes, known := r.TakesAnother(); !yes || !known {
		t.Fatalf("after the end's acknowledgement: takes another %v, known %v; want both", yes, known)
	}
	if !p.(Recycler).Recycle() {
		t.Fatal("a process whose runtime said it takes another job was not kept")
	}
	p2, err := g.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Pid() != p.Pid() {
		t.Errorf("the next job got process %d, want the kept %d", p2.Pid(), p.Pid())
	}
	seq = runJob(2) // forgets job 1's answer
	// The way the runner takes an end that said yes: the acknowledgement
	// waits for the next job (protocol.EndAcker), the process is kept
	// meanwhile, and the acknowledgement reaches it.
	ea, ok := p2.Conn().(protocol.EndAcker)
	if !ok {
		t.Fatalf("a protocol 2 connection (%T) does not take late acknowledgements", p2.Conn())
	}
	ea.AckEnd(protocol.RunID{Job: 2}, seq)
	if !p2.(Recycler).Recycle() {
		t.Fatal("a process whose end's acknowledgement waits was not kept")
	}
	p3, err := g.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p3.Release()
	if p3.Pid() != p.Pid() {
		t.Errorf("the third job got process %d, want the kept %d", p3.Pid(), p.Pid())
	}
	runJob(3)
	if err := p3.Conn().Ack(ctx, protocol.RunID{Job: 2}, seq, true); err == nil {
		t.Error("the runtime still holds job 2: its late acknowledgement never reached it")
	}
}

// takesAnother uses the end's answer when there is one, and asks Describe
// when there is none (a runtime built before the answer existed).
func TestTakesAnother(t *testing.T) {
	for _, tc := range []struct {
		name            string
		yes, known      bool
		describes, want bool
	}{
		{"the end said yes", true, true, false, true},
		{"the end said no", false, true, true, false},
		{"no answer: Describe says yes", false, false, true, true},
		{"no answer: Describe says no", false, false, false, false},
	} {
		c := answerConn{yes: tc.yes, known: tc.known, describes: tc.describes}
		if got := takesAnother(c); got != tc.want {
			t.Errorf("%s: takesAnother = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// answerConn is a connection whose answers are set: the end's, and
// Describe's.
type answerConn struct {
	protocol.Conn
	yes, known, describes bool
}

func (c answerConn) TakesAnother() (bool, bool) { return c.yes, c.known }
func (c answerConn) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{Reusable: c.describes}, nil
}

// A runtime process leaves nothing in the system's temporary directory,
// not even while it runs: a host can be killed at any moment, and what it
// would have removed at the process's end stays. (go-plugin makes a socket
// directory there for each process and removes it only when it kills the
// process.)
func TestGoPluginLeavesNothingInTmp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "run"), 0o700)
	g := NewGoPlugin(Options{RunDir: filepath.Join(dir, "run"), LogDir: dir})
	defer g.Close()
	p, err := g.Launch(context.Background(), testSpec(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	waitSpare(t, g) // a second process, started behind the first
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("a running runtime left %s in the temporary directory", e.Name())
	}
}

func waitSpare(t *testing.T, g *GoPlugin) int {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		g.mu.Lock()
		for _, sps := range g.spares {
			if len(sps) > 0 {
				g.mu.Unlock()
				return sps[0].p.Pid()
			}
		}
		g.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no spare within 20s")
		}
	}
}

func TestGoPluginErrors(t *testing.T) {
	dir := t.TempDir()
	g := NewGoPlugin(Options{RunDir: dir, LogDir: dir, NoSpares: true})
	defer g.Close()
	// Not a plugin: a clear error naming the binary, and nothing left.
	notPlugin := filepath.Join(dir, "true.sh")
	os.WriteFile(notPlugin, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	spec := testSpec(t, dir)
	spec.Binary, spec.SHA256 = notPlugin, fileSHA(t, notPlugin)
	_, err := g.Launch(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), notPlugin) {
		t.Errorf("Launch of a binary that is not a plugin: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "spare*")); len(left) != 0 {
		t.Errorf("a failed Launch left socket directories %v", left)
	}
	// One that says why it cannot start, on its standard error, before
	// any handshake: the error carries its words and names its log,
	// which holds them too.
	says := filepath.Join(dir, "says.sh")
	os.WriteFile(says, []byte("#!/bin/sh\necho starting >&2\necho 'cannot start: missing config' >&2\nexit 1\n"), 0o755)
	spec = testSpec(t, dir)
	spec.Binary, spec.SHA256 = says, fileSHA(t, says)
	_, err = g.Launch(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), `"cannot start: missing config"`) || !strings.Contains(err.Error(), "its log: ") {
		t.Fatalf("Launch of a plugin that says why it cannot start: %v", err)
	}
	logPath := err.Error()[strings.LastIndex(err.Error(), "its log: ")+len("its log: "):]
	logPath = logPath[:strings.IndexAny(logPath, ")")]
	if b, rerr := os.ReadFile(logPath); rerr != nil || !strings.Contains(string(b), "cannot start: missing config") {
		t.Errorf("its log %s: %q, %v; want its words", logPath, b, rerr)
	}
	// A process that is gone cannot be reattached.
	_, err = g.Reattach(&Attach{Network: "unix", Addr: filepath.Join(dir, "nosock"), Pid: 1 << 22, Protocol: 2}, filepath.Join(dir, "r.log"))
	if err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("Reattach to a dead pid: %v", err)
	}
	// Nor one of a protocol the host does not speak.
	_, err = g.Reattach(&Attach{Network: "unix", Addr: filepath.Join(dir, "nosock"), Pid: os.Getpid(), Protocol: 9}, filepath.Join(dir, "r.log"))
	if err == nil || !strings.Contains(err.Error(), "protocol 9") {
		t.Errorf("Reattach with protocol 9: %v", err)
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// What runs is what was checked: a binary that does not match its spec's
// SHA-256 is never executed, and a binary swapped after the check is not
// what runs.
func TestGoPluginRunsOnlyVerifiedBinaries(t *testing.T) {
	dir := t.TempDir()
	g := NewGoPlugin(Options{RunDir: dir, LogDir: dir, NoSpares: true})
	defer g.Close()
	marker := filepath.Join(dir, "ran")
	evil := filepath.Join(dir, "evil")
	os.WriteFile(evil, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755)
	spec := testSpec(t, dir)
	spec.Binary = evil // the SHA-256 is still the real plugin's
	_, err := g.Launch(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "does not match its recorded SHA-256") {
		t.Errorf("Launch of a binary that does not match: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the binary that failed the check ran")
	}
	// The real plugin, checked and opened, then its path swapped for the
	// other binary before it runs: the opened file runs.
	self, _ := os.Executable()
	copyPath := filepath.Join(dir, "plugin")
	data, _ := os.ReadFile(self)
	os.WriteFile(copyPath, data, 0o755)
	spec = testSpec(t, dir)
	spec.Binary = copyPath
	opened := g.opts.Open
	g.opts.Open = func(s *Spec) (*os.File, error) {
		f, err := opened(s)
		if err == nil {
			// Swapped between the check and the exec.
			os.Rename(evil, copyPath)
		}
		return f, err
	}
	p, err := g.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	defer p.Release()
	if d, err := p.Conn().Describe(context.Background()); err != nil || d.Name != "launchtest" {
		t.Errorf("the process that ran is %+v, %v; want the checked plugin", d, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the binary swapped in after the check ran")
	}
}

// A reusable runtime's process whose job ended cleanly comes back for the
// next job of its spec, with its log renamed for that job; one that is not
// reusable, or that was Released, is ended. Processes are never shared
// between specs.
func TestGoPluginRecycle(t *testing.T) {
	g, dir := newReuseLauncher(t, true)
	ctx := context.Background()
	spec := func(reusable bool, log string) *Spec {
		s := testSpec(t, dir)
		s.LogFile = filepath.Join(dir, log)
		if reusable {
			s.Env = append(s.Env, envReusable+"=1")
		}
		return s
	}
	p1, err := g.Launch(ctx, spec(true, "1.log"))
	if err != nil {
		t.Fatal(err)
	}
	pid := p1.Pid()
	if !p1.(Recycler).Recycle() || p1.Exited() {
		t.Fatal("a reusable process was not kept by Recycle")
	}
	p2, err := g.Launch(ctx, spec(true, "2.log"))
	if err != nil {
		t.Fatal(err)
	}
	if p2.Pid() != pid {
		t.Errorf("the next job got process %d, want the recycled %d", p2.Pid(), pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "2.log")); err != nil {
		t.Errorf("the recycled process's log is not the job's: %v", err)
	}
	// A different spec (here: its environment differs, as a user's would
	// in its identity) never gets it.
	other := spec(true, "3.log")
	other.Arch = "386"
	if !p2.(Recycler).Recycle() {
		t.Fatal("a reusable process was not kept by Recycle")
	}
	p3, err := g.Launch(ctx, other)
	if err == nil {
		if p3.Pid() == pid {
			t.Error("a process was given to another spec")
		}
		p3.Release()
	}
	// Released: ended, and never handed out again.
	p4, err := g.Launch(ctx, spec(true, "4.log"))
	if err != nil {
		t.Fatal(err)
	}
	if p4.Pid() != pid {
		t.Errorf("job 4 got process %d, want the recycled %d", p4.Pid(), pid)
	}
	p4.Release()
	if !p4.Exited() {
		t.Error("a released process still runs")
	}
	// Not reusable: Recycle refuses it, and it is the caller's to end.
	p5, err := g.Launch(ctx, spec(false, "5.log"))
	if err != nil {
		t.Fatal(err)
	}
	if p5.(Recycler).Recycle() {
		t.Error("a process of a runtime that is not reusable was kept")
	}
	p5.Release()
	if !p5.Exited() {
		t.Error("a released process still runs")
	}
	if p6, err := g.Launch(ctx, spec(false, "6.log")); err == nil {
		if p6.Pid() == p5.Pid() {
			t.Error("a refused process was handed out again")
		}
		p6.Release()
	}
}

// A process runs at most maxJobs jobs: the last is not taken back, and
// the job after it gets a process of its own.
func TestGoPluginRetiredAfterMaxJobs(t *testing.T) {
	old := maxJobs
	maxJobs = 3
	t.Cleanup(func() { maxJobs = old })
	g, dir := newReuseLauncher(t, true)
	spec := testSpec(t, dir)
	spec.Env = append(spec.Env, envReusable+"=1")
	var first int
	for i := 1; i <= maxJobs; i++ {
		p, err := g.Launch(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			first = p.Pid()
		} else if p.Pid() != first {
			t.Fatalf("job %d got process %d, want the reused %d", i, p.Pid(), first)
		}
		kept := p.(Recycler).Recycle()
		if want := i < maxJobs; kept != want {
			t.Fatalf("job %d of %d: Recycle = %v, want %v", i, maxJobs, kept, want)
		}
		if !kept {
			p.Release()
		}
	}
	p, err := g.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if p.Pid() == first {
		t.Errorf("job %d got the process that had run %d jobs", maxJobs+1, maxJobs)
	}
}

// A reused process's log is the job's while it runs the job (a second
// name for the file), and only the process's own when it is taken back:
// taking it back makes no file, whether the job's name is still there or
// was removed with the job (start --wait), and leaves alone a job's name
// that has become another file's (a restarted job's next attempt).
func TestGoPluginRecycleLogNames(t *testing.T) {
	g, dir := newReuseLauncher(t, true)
	ctx := context.Background()
	launch := func(log string) Process {
		t.Helper()
		s := testSpec(t, dir)
		s.LogFile = filepath.Join(dir, log)
		s.Env = append(s.Env, envReusable+"=1")
		p, err := g.Launch(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	recycle := func(p Process) {
		t.Helper()
		if !p.(Recycler).Recycle() {
			t.Fatal("a reusable process was not kept by Recycle")
		}
	}
	var file os.FileInfo // the process's log file
	// is says whether log names the process's log file; gone, whether
	// it names nothing.
	is := func(log string) bool {
		fi, err := os.Lstat(filepath.Join(dir, log))
		return err == nil && os.SameFile(fi, file)
	}
	gone := func(log string) bool {
		_, err := os.Lstat(filepath.Join(dir, log))
		return os.IsNotExist(err)
	}
	spareLogs := func() []string {
		l, _ := filepath.Glob(filepath.Join(dir, "spare*.runtime.log"))
		return l
	}

	p := launch("1.log")
	recycle(p) // started for job 1: its log takes the process's own name
	logs := spareLogs()
	if len(logs) != 1 {
		t.Fatalf("after the first job, the process's logs %v, want one", logs)
	}
	own := filepath.Base(logs[0])
	file, _ = os.Lstat(logs[0])
	if !gone("1.log") {
		t.Error("job 1's name for the log stayed after its process was taken back")
	}

	launch("2.log")
	if !is("2.log") || !is(own) {
		t.Fatal("job 2's log is not the process's log file under both names")
	}
	os.Remove(filepath.Join(dir, "2.log")) // the job removed with its row
	recycle(p)
	if !is(own) || len(spareLogs()) != 1 {
		t.Errorf("after a removed job the process's logs are %v, want its own file alone", spareLogs())
	}

	launch("3.log")
	recycle(p) // the job stays: its name for the log goes
	if !gone("3.log") || !is(own) {
		t.Error("after job 3 was taken back, its name for the log stayed, or the process's own did not")
	}

	launch("4.log")
	// The job is restarted meanwhile: its name is the next attempt's.
	os.Remove(filepath.Join(dir, "4.log"))
	if err := os.WriteFile(filepath.Join(dir, "4.log"), []byte("next attempt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recycle(p)
	if b, err := os.ReadFile(filepath.Join(dir, "4.log")); err != nil || string(b) != "next attempt\n" {
		t.Errorf("a process taken back took the next attempt's log: %q, %v", b, err)
	}

	launch("5.log")
	p.Release() // not taken back: the log is the job's alone
	if !is("5.log") || len(spareLogs()) != 0 {
		t.Errorf("after a release: job 5's log is the process's file: %v (want true), the process's names %v (want none)", is("5.log"), spareLogs())
	}
}
