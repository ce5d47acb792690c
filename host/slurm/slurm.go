// Package slurm runs bgjob jobs on a Slurm cluster through Slurm's own
// commands (sbatch, srun, squeue, scontrol, scancel, sinfo): the documented
// interface workflow engines use, which works with any Slurm a user can
// submit to, with no library, daemon or REST endpoint of bgjob's own.
//
// A job is one Slurm batch job whose script runs `bgjobd slurm-task` once per
// task (srun); each task starts the job's runtime on its node, as the local
// host would, and writes the records the runtime sends to a record log in
// the job's directory, which must be on a filesystem the host and the nodes
// share (the Slurm norm: home directories on NFS). The host reads those
// logs as they grow; the numbering of records makes this exactly-once
// whatever the host does meanwhile (see Task).
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Client runs Slurm's commands.
type Client struct {
	// Bin is the directory of Slurm's commands; empty finds them on PATH.
	Bin string
	// Timeout bounds each command (default 30 s): a slurmctld that does
	// not answer must not hang the host.
	Timeout time.Duration
	// Log, if set, is told once that squeue refused the format that
	// reads restart counts.
	Log hclog.Logger

	plainSqueue atomic.Bool // squeue refused -O: Active asks with -o
}

// ErrNoSlurm says Slurm's commands are not there.
var ErrNoSlurm = errors.New("the Slurm commands are not installed here")

// Error is a Slurm command that failed: what bgjob was doing, and Slurm's
// own words.
type Error struct {
	Doing  string
	Slurm  string // the command's stderr (or stdout), trimmed
	Cmd    string
	Status error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Slurm)
	if msg == "" {
		msg = e.Status.Error()
	}
	return fmt.Sprintf("%s: Slurm says: %s%s", e.Doing, msg, hint(msg))
}

// hint adds what a user can do about the Slurm messages that have a known
// cause.
func hint(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "munge") || strings.Contains(m, "authentication"):
		return " (munge, which Slurm uses to authenticate, is not running or its key differs from the controller's: start munged)"
	case strings.Contains(m, "unable to contact slurm controller") || strings.Contains(m, "connection refused") || strings.Contains(m, "zero bytes were transmitted"):
		return " (the Slurm controller, slurmctld, does not answer)"
	case strings.Contains(m, "invalid partition"):
		return " ('bgjob location list' shows the partitions)"
	}
	return ""
}

func (c *Client) path(name string) (string, error) {
	if c.Bin != "" {
		p := filepath.Join(c.Bin, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s is not in BGJOB_SLURM_BIN (%s)", ErrNoSlurm, name, c.Bin)
		}
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not on PATH (install Slurm's client commands, e.g. apt-get install slurm-client, or set BGJOB_SLURM_BIN)", ErrNoSlurm, name)
	}
	return p, nil
}

// run runs a Slurm command and returns its stdout.
func (c *Client) run(ctx context.Context, doing, name string, args ...string) (string, error) {
	return c.runEnv(ctx, nil, doing, name, args...)
}

// runEnv is run with environment env (nil: the host's).
func (c *Client) runEnv(ctx context.Context, env []string, doing, name string, args ...string) (string, error) {
	out, _, err := c.runOut(ctx, env, doing, name, args...)
	return out, err
}

// runOut is runEnv, which also returns the command's stderr.
func (c *Client) runOut(ctx context.Context, env []string, doing, name string, args ...string) (string, string, error) {
	p, err := c.path(name)
	if err != nil {
		return "", "", err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := errOut.String()
		if strings.TrimSpace(msg) == "" {
			msg = out.String()
		}
		if ctx.Err() != nil {
			msg = fmt.Sprintf("%s did not answer within %v", name, timeout)
		}
		return "", errOut.String(), &Error{Doing: doing, Slurm: msg, Cmd: name + " " + strings.Join(args, " "), Status: err}
	}
	return out.String(), errOut.String(), nil
}

// Partition is one of the cluster's partitions as sinfo shows it.
type Partition struct {
	Name    string
	Default bool
	Up      bool
	Nodes   int
}

// Partitions asks the controller for its partitions: how a location is
// found reachable.
func (c *Client) Partitions(ctx context.Context) ([]Partition, error) {
	out, err := c.run(ctx, "cannot reach the Slurm cluster", "sinfo", "-h", "-o", "%P|%a|%D")
	if err != nil {
		return nil, err
	}
	var ps []Partition
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			continue
		}
		p := Partition{Name: strings.TrimSuffix(f[0], "*"), Default: strings.HasSuffix(f[0], "*"), Up: f[1] == "up"}
		p.Nodes, _ = strconv.Atoi(f[2])
		if !seen[p.Name] {
			seen[p.Name] = true
			ps = append(ps, p)
		}
	}
	return ps, nil
}

// Request is what a job asks of Slurm.
type Request struct {
	Partition string
	Nodes     int
	NodeList  string
	Tasks     int
	Time      string
	// Args are further sbatch options, passed as given.
	Args []string
}

// sbatchArgs are the options for r.
func (r *Request) sbatchArgs() []string {
	var a []string
	if r.Partition != "" {
		a = append(a, "--partition="+r.Partition)
	}
	if r.Nodes > 0 {
		a = append(a, "--nodes="+strconv.Itoa(r.Nodes))
	}
	if r.NodeList != "" {
		a = append(a, "--nodelist="+r.NodeList)
	}
	if r.Tasks > 0 {
		a = append(a, "--ntasks="+strconv.Itoa(r.Tasks))
	}
	if r.Time != "" {
		a = append(a, "--time="+r.Time)
	}
	return append(a, r.Args...)
}

// TaskCount is how many tasks (and so child jobs) r makes: one per task if
// it says how many, else one per node.
func (r *Request) TaskCount() int {
	switch {
	case r.Tasks > 0:
		return r.Tasks
	case r.Nodes > 0:
		return r.Nodes
	case r.NodeList != "":
		return len(strings.Split(r.NodeList, ","))
	}
	return 1
}

// Installed checks that Slurm's commands are there.
func (c *Client) Installed() error {
	for _, name := range []string{"sbatch", "squeue", "scontrol", "scancel"} {
		if _, err := c.path(name); err != nil {
			return err
		}
	}
	return nil
}

// Submit submits script as a batch job named name that writes Slurm's own
// output to output, and returns Slurm's job id.
func (c *Client) Submit(ctx context.Context, r *Request, name, workdir, output, script string) (string, error) {
	args := []string{"--parsable", "--job-name=" + name, "--chdir=" + workdir, "--output=" + output,
		// Slurm does not requeue a job unless asked: running a job
		// twice must be the user's choice (--slurm-arg=--requeue, which
		// comes after and wins). bgjob follows a requeued job's new run.
		"--no-requeue"}
	args = append(args, r.sbatchArgs()...)
	args = append(args, script)
	out, err := c.runEnv(ctx, SubmitEnv(os.Environ()), "cannot submit the job to Slurm", "sbatch", args...)
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";") // "id;cluster" on a federation
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("sbatch answered %q, not a job id", strings.TrimSpace(out))
	}
	return id, nil
}

// sbatchReads are the SLURM_ variables sbatch documents as its own input
// (man sbatch, INPUT ENVIRONMENT VARIABLES): settings of the submitter
// that sbatch itself reads, not a description of a job.
var sbatchReads = map[string]bool{
	"SLURM_CONF": true, "SLURM_CLUSTERS": true, "SLURM_HINT": true, "SLURM_DEBUG_FLAGS": true,
	"SLURM_EXIT_ERROR": true, "SLURM_STEP_KILLED_MSG_NODE_ID": true, "SLURM_UMASK": true,
}

// SubmitEnv is env without the SLURM_ variables sbatch does not read. sbatch
// copies its whole environment into the job, and a host that runs inside
// a Slurm job (an allocation, or a batch job of its own) has that job's
// SLURM_JOB_ID, SLURM_NTASKS, SLURM_RESTART_COUNT...: srun in the batch
// script would take the outer job's task count, and a task would read the
// outer job's requeues as its own (Slurm sets SLURM_RESTART_COUNT only
// once a job is requeued, so a stale one is not overwritten in a first
// run). Slurm sets the job's own when it runs it.
func SubmitEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SLURM_") && !sbatchReads[k] {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Cancel cancels job id (Slurm sends TERM, then KILL after its KillWait).
func (c *Client) Cancel(ctx context.Context, id string) error {
	_, err := c.run(ctx, "cannot cancel the Slurm job "+id, "scancel", id)
	return err
}

// FindByName returns the id of the job named name still in Slurm's queue,
// or "" if there is none.
func (c *Client) FindByName(ctx context.Context, name string) (string, error) {
	out, err := c.run(ctx, "cannot look for a job in Slurm", "squeue", "-h", "--name="+name, "-o", "%i")
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return id, nil
}

// JobState is what Slurm says of a job.
type JobState struct {
	ID    string
	State string // PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED, ...
	// Reason is why it is pending or why it ended, if Slurm says.
	Reason   string
	ExitCode string // "0:0": status and signal
	// Restarts is how many times Slurm requeued the job (each run after
	// the first starts it from the beginning again).
	Restarts int
}

// Active returns what squeue says of the jobs ids that are still in the
// queue (pending, running, suspended, or just ending); a job missing from
// the map has left it.
func (c *Client) Active(ctx context.Context, ids []string) (map[string]JobState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if c.plainSqueue.Load() {
		return c.activePlain(ctx, ids)
	}
	// --Format, as -o has no letter for the restart count; a suffix with
	// no width prints each field as it is. The reason is last: it is free
	// text, which may hold the separator (see parseSqueue).
	const doing = "cannot ask Slurm for the jobs' states"
	out, errOut, err := c.runOut(ctx, nil, doing, "squeue", "-h", "-j", strings.Join(ids, ","), "-O", "JobID:|,State:|,RestartCnt:|,Reason:|")
	switch {
	case err == nil && !strings.Contains(strings.ToLower(errOut), "invalid job format"):
		return parseSqueue(out), nil
	case gone(err):
		return map[string]JobState{}, nil
	case err != nil && hint(err.Error()) != "":
		return nil, err // Slurm is down, not the format refused
	}
	// An squeue older than this Slurm (-O, its field suffixes, or
	// RestartCnt unknown) would stall every job on Slurm: ask as bgjob
	// did before it followed requeues. If that answers, the format was
	// what squeue refused, for as long as this host runs.
	states, perr := c.activePlain(ctx, ids)
	if perr != nil {
		if err != nil {
			return nil, err
		}
		return nil, perr
	}
	if c.plainSqueue.CompareAndSwap(false, true) && c.Log != nil {
		refused := strings.TrimSpace(errOut)
		if err != nil {
			refused = err.Error()
		}
		c.Log.Warn("squeue refused the -O format bgjob asks for the jobs' restart counts; asking with -o instead, without them: a job Slurm requeues is seen again only once its next run begins, and may end Failed meanwhile", "squeue", refused)
	}
	return states, nil
}

// gone says whether err is squeue refusing a list whose every job has
// left the queue.
func gone(err error) bool {
	var e *Error
	return errors.As(err, &e) && strings.Contains(strings.ToLower(e.Slurm), "invalid job id")
}

// activePlain is Active with squeue's -o, which every Slurm has, and no
// restart counts.
func (c *Client) activePlain(ctx context.Context, ids []string) (map[string]JobState, error) {
	out, err := c.run(ctx, "cannot ask Slurm for the jobs' states", "squeue", "-h", "-j", strings.Join(ids, ","), "-o", "%i|%T|%r")
	if gone(err) {
		return map[string]JobState{}, nil
	}
	if err != nil {
		return nil, err
	}
	states := map[string]JobState{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), "|", 3) // the reason, last, may hold '|'
		if len(f) == 3 && f[0] != "" {
			states[f[0]] = JobState{ID: f[0], State: f[1], Reason: reason(f[2])}
		}
	}
	return states, nil
}

// parseSqueue reads what Active's squeue prints: a line per job, each
// field followed by '|'. The reason, last, is the rest of the line less
// its final '|', whatever '|' it holds itself ("burst_buffer/lua: a|b"):
// split on every '|', a reason's own would shift the restart count, which
// a job's run follows and never takes back.
func parseSqueue(out string) map[string]JobState {
	states := map[string]JobState{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), "|", 4)
		if len(f) < 4 || f[0] == "" {
			continue
		}
		restarts, _ := strconv.Atoi(f[2])
		states[f[0]] = JobState{ID: f[0], State: f[1], Restarts: restarts, Reason: reason(strings.TrimSuffix(f[3], "|"))}
	}
	return states
}

// Final returns what Slurm says of a job that has left the queue: from
// scontrol while the controller remembers it (MinJobAge), else from sacct
// where accounting is kept.
func (c *Client) Final(ctx context.Context, id string) (JobState, error) {
	out, err := c.run(ctx, "cannot ask Slurm how job "+id+" ended", "scontrol", "show", "job", "-o", id)
	if err == nil {
		return parseScontrol(id, out), nil
	}
	out, serr := c.run(ctx, "cannot ask Slurm how job "+id+" ended", "sacct", "-n", "-X", "-P", "-j", id, "-o", "JobID,State,ExitCode,Reason")
	if serr != nil {
		return JobState{}, err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) == 4 && f[0] == id {
			st, _, _ := strings.Cut(f[1], " ") // "CANCELLED by 1000"
			return JobState{ID: id, State: st, ExitCode: f[2], Reason: reason(f[3])}, nil
		}
	}
	return JobState{}, err
}

// parseScontrol reads `scontrol show job -o`: one line of Key=Value.
func parseScontrol(id, out string) JobState {
	js := JobState{ID: id}
	for _, kv := range strings.Fields(out) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch k {
		case "JobState":
			js.State = v
		case "Reason":
			js.Reason = reason(v)
		case "ExitCode":
			js.ExitCode = v
		case "Restarts":
			js.Restarts, _ = strconv.Atoi(v)
		}
	}
	return js
}

func reason(r string) string {
	if r == "None" || r == "(null)" {
		return ""
	}
	return r
}
