package launch

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/internal/safepath"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Options configure the go-plugin launcher.
type Options struct {
	// RunDir holds the processes' socket directories (each owned by its
	// process's user); LogDir the logs of processes not running a job.
	RunDir, LogDir string
	// StateDir is the launcher's own directory, which only the host may
	// enter: each process's socket, linked there once checked (see
	// procRunner), and the record of each process (pid and start time), so
	// that nothing the host trusts about a process lives where that
	// process's user could change it.
	StateDir string
	// NoSpares turns off starting processes ahead of need.
	NoSpares bool
	// EndWithLauncher: the processes die with the launcher's own process
	// (on Linux; see tieToLauncher). For a Slurm or SSH task, which no
	// host reattaches to: a host's runtimes outlive it on purpose, for
	// the next host to take back.
	EndWithLauncher bool
	// SpareIdle is how long a spare waits for a job before it is ended;
	// zero means DefaultSpareIdle.
	SpareIdle time.Duration
	// Logger gets the launcher's own messages.
	Logger hclog.Logger
	// Open opens a spec's binary and checks it against the spec's SHA-256;
	// the process runs the file it returns. Nil means Catalog's check
	// (catalog.OpenVerified).
	Open func(*Spec) (*os.File, error)
	// Catalog is where the binaries are installed: its check of a binary's
	// folders gives them no more leeway than the catalog does (above its
	// root, a sticky folder such as /tmp is accepted; within it, nothing
	// others may write to). Nil: a catalog rooted at RunDir, for a
	// launcher of one user's own processes (a Slurm or SSH task).
	Catalog *catalog.Catalog
}

// DefaultSpareIdle is how long an unused spare lives.
const DefaultSpareIdle = time.Minute

// GoPlugin launches runtime plugins as child processes over go-plugin.
//
// Starting a plugin (exec, Go runtime start-up, the handshake, the gRPC
// dial) is most of a short job's latency. So the launcher keeps processes
// ready, by Spec (key): after a job takes one it starts another in the
// background (a spare), and a reusable runtime's process that ran a job to
// a clean end comes back (Recycle) for the next job of the same Spec. A
// process runs one job at a time, and at most maxJobs jobs; one not used
// for SpareIdle is ended.
//
// Jobs that run side by side (a batch's children, a queue group of 4) each
// hold a process, and each comes back as its job ends. So no spare is
// started while another process of the Spec is running a job (it will be
// back), and the idle processes kept are maxIdle more than the most that
// ran at once since one last sat idle for SpareIdle (counting at most
// idleCap of those): kept to maxIdle alone, the processes coming back from
// five children that ended together were ended while the next children
// started processes of their own.
type GoPlugin struct {
	opts Options

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // refills and idle timers

	attachShared sync.Mutex // held while a shared process is reattached

	mu          sync.Mutex
	spares      map[key][]*spare // idle processes, the newest last
	starting    map[key]bool     // a spare is being started
	busy        map[key]int      // reusable processes running a job
	peak        map[key]int      // the most busy at once (see GoPlugin)
	shared      map[key]*sharedProc
	sharedByPid map[int]*sharedProc // reattached ones
}

// Bounds of process reuse: the idle processes kept per Spec, maxIdle more
// than the most that ran at once, of which at most idleCap count. More
// side by side than idleCap keep the processors busy with their jobs, not
// with starting processes, and a burst of 100 leaves 18 idle processes
// (3-6 MiB each: see maxJobs) for a minute, not 102.
const (
	maxIdle = 2
	idleCap = 16
)

// maxJobs is how many jobs one process runs before it is retired, so that
// whatever a runtime leaks stays bounded. The shell runtime's process
// grows from 3 to 6 MiB over its first 100 trivial jobs and stays there
// through 1000; a new process every 100 jobs was 4-5% of the machine's CPU
// for a loop of trivial jobs (the process's start, its handshake and the
// spare behind it). (A variable for tests.)
var maxJobs = 1000

// NewGoPlugin returns a launcher.
func NewGoPlugin(opts Options) *GoPlugin {
	if opts.SpareIdle <= 0 {
		opts.SpareIdle = DefaultSpareIdle
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StateDir == "" {
		// Processes of the launcher's own user only (a Slurm task's):
		// there is nobody to keep out.
		opts.StateDir = opts.RunDir
	}
	if opts.Open == nil {
		cat := opts.Catalog
		if cat == nil {
			cat = catalog.Open(opts.RunDir)
		}
		opts.Open = func(s *Spec) (*os.File, error) { return cat.OpenVerified(entryOf(s)) }
	}
	g := &GoPlugin{opts: opts, spares: map[key][]*spare{}, starting: map[key]bool{}, busy: map[key]int{}, peak: map[key]int{},
		shared: map[key]*sharedProc{}, sharedByPid: map[int]*sharedProc{}}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

// Launch takes a ready process for spec if there is one, else starts one,
// and starts a spare for the next job.
func (g *GoPlugin) Launch(ctx context.Context, spec *Spec) (Process, error) {
	k := keyOf(spec)
	p := g.takeSpare(k)
	if p != nil {
		// The process's log becomes the job's too: a second name, which
		// goes when the process is taken back (keep). The file keeps the
		// process's own name, so that taking it back makes no file, even
		// when the job and its name are gone already (start --wait): on
		// some disks making a file costs more than the rest of a job's
		// start. Where a link cannot be made (a file of an earlier
		// attempt there), the log is renamed, as before.
		if err := os.Link(p.logPath, spec.LogFile); err == nil {
			p.jobLog = spec.LogFile
		} else if err := renameLog(p.logPath, spec.LogFile); err != nil {
			g.opts.Logger.Warn("cannot move the runtime's log", "err", err)
		} else {
			p.logPath = spec.LogFile
		}
	} else {
		sockDir, err := os.MkdirTemp(g.opts.RunDir, "spare")
		if err != nil {
			return nil, fmt.Errorf("cannot create a socket directory for the runtime: %w", err)
		}
		if p, err = g.start(spec, sockDir, spec.LogFile, nil); err != nil {
			return nil, err
		}
	}
	p.g, p.key = g, k
	p.jobs++
	if p.reusable {
		g.mu.Lock()
		g.busy[k]++
		g.peak[k] = max(g.peak[k], g.busy[k])
		p.busy = true
		g.mu.Unlock()
	}
	g.refill(spec, k)
	return p, nil
}

// start starts a plugin process for spec with its sockets in sockDir and
// its log in logPath.
//
// The environment is built here, not inherited (SkipHostEnv): the job's own
// travels in its run request, so nothing of the host's leaks into jobs. The
// process leads its own process group, so a terminal's Ctrl-C aimed at the
// host does not reach it.
func (g *GoPlugin) start(spec *Spec, sockDir, logPath string, extraEnv []string) (*child, error) {
	if err := makeSockDir(sockDir, spec.Identity); err != nil {
		return nil, fmt.Errorf("cannot create the job's socket directory: %w", err)
	}
	// What runs is what was checked: the binary is opened and hashed, and
	// that open file is executed, not the path, which could be swapped in
	// between.
	bin, err := g.opts.Open(spec)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	defer bin.Close() // the child has its own copy once it runs
	logger, logFile, err := openLog(logPath)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, err
	}
	// The plugin writes its own log too, as its user.
	if err := ownBy(logFile, spec.Identity); err != nil {
		logFile.Close()
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("cannot give the runtime's log to its user: %w", err)
	}
	cmd := catalog.Command(context.Background(), bin, spec.Binary)
	cmd.Dir = spec.Workdir
	cmd.Env = append([]string{
		sdk.EnvLogFile + "=" + logPath,
		// go-plugin passes its own socket directory only to custom
		// runners; a plugin reads this variable either way.
		"PLUGIN_UNIX_SOCKET_DIR=" + sockDir,
		"PATH=/usr/local/bin:/usr/bin:/bin",
	}, spec.Env...)
	cmd.Env = append(cmd.Env, extraEnv...)
	setProcAttr(cmd, spec.Identity)
	if g.opts.EndWithLauncher {
		tieToLauncher(cmd)
	}
	pin := g.pinPath(sockDir)
	r, err := newProcRunner(cmd, uidOf(spec.Identity), sockDir, pin, g.recordPath(sockDir), logPath)
	if r != nil {
		r.tied = g.opts.EndWithLauncher
	}
	var client *plugin.Client
	if err == nil {
		client, err = protocol.NewClient(&protocol.ClientOptions{Cmd: cmd, Runner: r.runnerFunc, Peer: r.peer, Logger: logger, Stderr: logFile})
	}
	if err == nil {
		var p *child
		if p, err = dispense(client, logger, sockDir, logPath, logFile); err == nil {
			p.attach.Binary = spec.Binary
			// go-plugin knows the pid only of processes it started itself.
			p.attach.Pid, p.attach.UID, p.attach.Start = r.peer.Pid, r.peer.UID, r.start
			p.pin, p.record, p.ended = r.pin, r.record, r.exitStatus
			p.reusable = p.attach.Protocol == sdk.ProtocolV2 && describesReusable(p.conn)
			return p, nil
		}
		client.Kill()
		// What it started goes with it: a runtime that failed to start
		// leaves nothing running.
		if r.peer.Pid > 0 {
			waitGone(r.peer.Pid, r.start)
			endSession(r.peer.Pid)
		}
	}
	os.Remove(pin)
	os.Remove(r.record)
	logFile.Close()
	os.RemoveAll(sockDir)
	return nil, fmt.Errorf("cannot start the runtime %s: %w", spec.Binary, err)
}

// pinPath is where the socket of the process whose socket directory is
// sockDir is linked once checked.
func (g *GoPlugin) pinPath(sockDir string) string {
	return filepath.Join(g.opts.StateDir, filepath.Base(sockDir)+".sock")
}

// Reattach connects to a runtime process an earlier host started.
func (g *GoPlugin) Reattach(a *Attach, logPath string) (Process, error) {
	var p Process
	var err error
	if a.Shared {
		p, err = g.reattachShared(a, logPath)
	} else {
		p, err = g.reattach(a, logPath)
	}
	if err != nil {
		// A runtime we cannot talk to would wait an hour for a host
		// before giving up; end it now, and what its job left.
		End(a)
		return nil, err
	}
	return p, nil
}

// End kills the process a records, if its pid still names that process
// (pid and start time), and what is left of its session: for a runtime the
// host cannot take back.
func End(a *Attach) {
	if killStray(a.Pid, a.Start) {
		waitGone(a.Pid, a.Start)
	}
	endSession(a.Pid) // only if its leader is gone
}

func (g *GoPlugin) reattach(a *Attach, logPath string) (*child, error) {
	var addr net.Addr
	switch a.Network {
	case "unix":
		addr = &net.UnixAddr{Net: "unix", Name: a.Addr}
	default:
		ta, err := net.ResolveTCPAddr(a.Network, a.Addr)
		if err != nil {
			return nil, err
		}
		addr = ta
	}
	if !alive(a.Pid) {
		return nil, fmt.Errorf("the runtime process %d is gone", a.Pid)
	}
	// The process is the one this host's records name, or none: a pid
	// alone may be another process's by now. A record from a host before
	// start times were kept is taken by its pid.
	var peer *protocol.Peer
	if a.Start != 0 {
		if st, ok := process.StartTime(a.Pid); !ok || st != a.Start {
			return nil, fmt.Errorf("the runtime process %d is gone (pid %d is another process now)", a.Pid, a.Pid)
		}
		peer = &protocol.Peer{Pid: a.Pid, UID: a.UID, Dir: a.SockDir}
		if a.Network == "unix" {
			if err := checkListener(peer, a.Addr); err != nil {
				return nil, err
			}
		}
	}
	logger, logFile, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	client, err := protocol.NewClient(&protocol.ClientOptions{
		Reattach: &plugin.ReattachConfig{Addr: addr, Pid: a.Pid},
		Protocol: a.Protocol,
		Peer:     peer,
		Logger:   logger,
	})
	if err != nil {
		logFile.Close()
		return nil, err
	}
	p, err := dispense(client, logger, a.SockDir, logPath, logFile)
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("cannot reattach to the runtime process %d: %w", a.Pid, err)
	}
	p.attach = *a
	if a.Network == "unix" && filepath.Dir(a.Addr) == filepath.Clean(g.opts.StateDir) {
		p.pin = a.Addr
	}
	p.record = g.recordPath(a.SockDir)
	return p, nil
}

// Close ends the spares and waits for the launcher's goroutines.
func (g *GoPlugin) Close() error {
	g.cancel()
	g.mu.Lock()
	var all []*spare
	for k, sps := range g.spares {
		all = append(all, sps...)
		delete(g.spares, k)
	}
	// Shared processes nobody holds end; held ones run jobs, which go on,
	// and are told now of the ends acknowledged so far that waited to
	// ride on a Run: with no host they would keep them, and themselves,
	// until their orphan timeout.
	var idleShared, heldShared []*child
	for k, sp := range g.shared {
		if sp.refs > 0 {
			heldShared = append(heldShared, sp.p)
		}
		if sp.refs == 0 {
			if sp.timer != nil && sp.timer.Stop() {
				g.wg.Done()
			}
			idleShared = append(idleShared, sp.p)
		}
		delete(g.shared, k)
	}
	g.mu.Unlock()
	for _, p := range heldShared {
		if ea, ok := p.Conn().(protocol.EndAcker); ok {
			ea.FlushAcks()
		}
	}
	for _, p := range idleShared {
		g.drop(p)
	}
	for _, sp := range all {
		g.stopTimer(sp)
		g.drop(sp.p)
	}
	g.wg.Wait()
	return nil
}

func dispense(client *plugin.Client, logger hclog.Logger, sockDir, logPath string, logFile *os.File) (*child, error) {
	conn, err := protocol.Dispense(client)
	if err != nil {
		return nil, err
	}
	p := &child{client: client, conn: conn, logPath: logPath, logFile: logFile, sockDir: sockDir, logger: logger}
	if rc := client.ReattachConfig(); rc != nil && rc.Addr != nil {
		p.attach = Attach{Network: rc.Addr.Network(), Addr: rc.Addr.String(), Pid: rc.Pid,
			Protocol: client.NegotiatedVersion(), SockDir: sockDir}
		p.canAttach = true
	}
	return p, nil
}

// openLog opens a process's log: go-plugin's messages about it, and the
// plugin's own.
func openLog(path string) (hclog.Logger, *os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|safepath.NoFollow, 0o600) // it is then chowned
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the runtime's log: %w", err)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "runtime", Output: f, Level: hclog.Info}), f, nil
}

// describesReusable asks a process whether it runs further jobs.
func describesReusable(c protocol.Conn) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.Describe(ctx)
	return err == nil && d.Reusable
}

// child is a runtime process started with go-plugin.
type child struct {
	client    *plugin.Client
	logger    hclog.Logger
	conn      protocol.Conn
	attach    Attach
	canAttach bool
	sockDir   string
	logPath   string
	// jobLog is the job's name for the log, linked to logPath while the
	// process runs a job it was given as a spare ("" otherwise).
	jobLog string
	// pin is the process's socket as linked in the launcher's StateDir
	// (see procRunner), and record its record there (recordProc); both go
	// with the process.
	pin, record string

	// For reuse: the launcher it goes back to, under which key; whether
	// its runtime runs further jobs; the jobs it was given; whether it is
	// counted among its key's busy processes.
	g        *GoPlugin
	key      key
	reusable bool
	jobs     int
	busy     bool

	once    sync.Once
	logFile *os.File
	// ended tells how the process ended (procRunner.exitStatus); nil for
	// one taken back from an earlier host, which is not this one's child.
	ended func() string
}

func (p *child) Conn() protocol.Conn { return p.conn }

func (p *child) Attach() *Attach {
	if !p.canAttach {
		return nil
	}
	a := p.attach
	return &a
}

func (p *child) Pid() int     { return p.attach.Pid }
func (p *child) Exited() bool { return p.client.Exited() }

// ExitStatus is how the process ended, if it was started here and has.
func (p *child) ExitStatus() string {
	if p.ended == nil {
		return ""
	}
	return p.ended()
}

// Kill ends the process and every process of its job: a runtime that is
// killed, or died, did not end them itself. The process is killed by its
// pid before go-plugin is told: go-plugin's Kill first asks the plugin to
// shut down over gRPC, and a frozen plugin never answers.
func (p *child) Kill() {
	pid := p.attach.Pid
	if pid > 0 {
		killPid(pid, p.attach.Start)
	}
	p.closeClient()
	if pid > 0 {
		waitGone(pid, p.attach.Start)
		if n := endSession(pid); n > 0 {
			p.logger.Warn("ended processes the runtime left", "count", n)
		}
	}
}

// closeClient lets go-plugin end its side, within a bound: should its
// graceful shutdown hang, the process is killed, which ends the call.
func (p *child) closeClient() {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
		if p.attach.Pid > 0 {
			killPid(p.attach.Pid, p.attach.Start)
		}
		<-done
	}
}

// closeWait bounds go-plugin's graceful shutdown of a process.
const closeWait = 3 * time.Second

// Recycle gives the process back for another job, if it can take one.
func (p *child) Recycle() bool {
	// Reusable is asked again: a process that could not end what its job
	// left running stops saying so (sdk.ServeConfig.EndLeftovers).
	p.idle()
	return p.g != nil && p.reusable && p.jobs < maxJobs && !p.Exited() && takesAnother(p.conn) && p.g.keep(p)
}

// takesAnother asks whether a process whose job ended takes another: the
// runtime's answer to the end's acknowledgement if it gave one, else
// Describe's.
func takesAnother(c protocol.Conn) bool {
	if r, ok := c.(protocol.Reuser); ok {
		if yes, known := r.TakesAnother(); known {
			return yes
		}
	}
	return describesReusable(c)
}

// idle stops counting p among its key's busy processes: its job is over.
func (p *child) idle() {
	if p.g == nil {
		return
	}
	p.g.mu.Lock()
	if p.busy {
		p.busy = false
		if p.g.busy[p.key]--; p.g.busy[p.key] <= 0 {
			delete(p.g.busy, p.key)
		}
	}
	p.g.mu.Unlock()
}

// Release ends the process and removes its socket directory and open log
// (the log file stays: it is the job's; the process's own name for it
// goes). The job is over, and the runtime ended its processes itself.
func (p *child) Release() {
	p.idle()
	p.once.Do(func() {
		if p.jobLog != "" {
			_ = safepath.RemoveFile(p.logPath)
		}
		p.closeClient()
		if p.sockDir != "" {
			_ = os.RemoveAll(p.sockDir)
		}
		for _, f := range []string{p.pin, p.record} {
			if f != "" {
				_ = os.Remove(f)
			}
		}
		p.logFile.Close()
	})
}

// waitGone waits a little for pid, begun at start, to end (a kill takes a
// moment), so that its session is seen without a leader; a pid another
// process has by now is not waited for.
func waitGone(pid int, start uint64) {
	for deadline := time.Now().Add(2 * time.Second); alive(pid) && ours(pid, start) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// entryOf is the catalog entry a spec names, for checking its binary.
func entryOf(s *Spec) *catalog.Entry {
	e := &catalog.Entry{Path: s.Binary, Manifest: catalog.Manifest{SHA256: s.SHA256}}
	e.Name, e.Version, e.OS, e.Arch = s.Name, s.Version, s.OS, s.Arch
	return e
}
