package sshloc

import (
	"context"
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/admit"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/internal/remote"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/host/task"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// Where a computer keeps what bgjob copies there, relative to the home
// there: binaries by their SHA-256, a directory per child job by its
// instance id.
const (
	remoteRuntimes = ".cache/bgjob/runtimes"
	remoteJobs     = ".cache/bgjob/jobs"
)

// Submit creates the job s over SSH (a parent, and a child per computer)
// and has it run; s is admitted already (see package remote).
func (l *Location) Submit(ctx context.Context, s *remote.Submission) (*api.Job, error) {
	if _, err := exec.LookPath(l.cfg.SSH); err != nil {
		return nil, errkind.Errorf(errkind.ErrNoLocation, "cannot run ssh (%v): the SSH location needs the OpenSSH client (apt-get install openssh-client)", err)
	}
	computers := s.SSH.Computers
	throttle := s.SSH.ThrottleLimit
	if throttle <= 0 {
		throttle = api.DefaultSSHThrottle
	}
	entry := s.Entry
	rt := admit.RuntimeOf(entry)
	// A computer's job starts in the home there, as a login does: this
	// machine's working directory means nothing there.
	row := func(loc string) *store.Row {
		r := jobs.NewRow(s.Owner, s.User, nil, admit.EntrySpec(entry), rt, s.Type, s.Command, "~")
		r.Location, r.Constraint = loc, s.Constraint
		return r
	}
	parent := row(strings.Join(computers, ", "))
	if s.InstanceID != "" {
		parent.InstanceID = s.InstanceID // the caller's (see Host.Start)
	}
	parent.SSH = &store.SSHJob{Dir: filepath.Join(l.cfg.Dir, parent.InstanceID), Throttle: throttle}
	// The host's environment means nothing there: the job gets a login's
	// there, and what it adds (--env).
	payload := proto.Clone(s.Payload).(*sdk.Job)
	payload.Env, payload.Workdir = s.EnvAdd, ""
	pv, err := l.t.Create(parent, payload, s.Name)
	if err != nil {
		return nil, err
	}
	pj := l.t.Get(pv.ID)
	var kids []*jobs.Job
	undo := func() {
		for _, k := range kids {
			_ = l.t.Remove(k)
		}
		_ = l.t.Remove(pj)
	}
	for i, c := range computers {
		r := row(c)
		r.Parent = pv.ID
		r.SSH = &store.SSHJob{Computer: c, RemoteDir: path.Join(remoteJobs, r.InstanceID)}
		r.StateReason = "waiting to connect to " + c
		cv, err := l.t.Create(r, &sdk.Job{}, fmt.Sprintf("%s.%d", pv.Name, i))
		if err != nil {
			undo()
			return nil, err
		}
		kids = append(kids, l.t.Get(cv.ID))
	}
	l.t.Lock()
	pj.Children = kids
	for _, k := range kids {
		pj.Row.ChildJobs = append(pj.Row.ChildJobs, k.Row.ID)
	}
	view := pj.ViewLocked()
	l.t.Unlock()
	// The parent's row, with its children, is written once, now.
	l.t.Persist(pj)
	l.log.Info("started a job over SSH", "job", pv.ID, "computers", len(kids), "throttle", throttle)
	l.t.Lock()
	for _, k := range kids {
		l.driveLocked(pj, k)
	}
	l.t.Unlock()
	return view, nil
}

// Follow drives the location's unfinished jobs the table holds (those the
// previous host left, once the table is loaded): those it had launched
// first, so that they take their connections before the others wait for
// one.
func (l *Location) Follow() {
	l.t.Lock()
	defer l.t.Unlock()
	var launched, rest [][2]*jobs.Job
	for j := range l.t.AllLocked() {
		if j.Row.SSH == nil || j.Row.Parent != 0 || j.Row.State.Finished() {
			continue
		}
		for _, k := range j.Children {
			switch {
			case k.Row.State.Finished():
			case k.Row.SSH.Launched:
				launched = append(launched, [2]*jobs.Job{j, k})
			default:
				rest = append(rest, [2]*jobs.Job{j, k})
			}
		}
		if len(j.Children) == 0 || allFinishedLocked(j) {
			l.t.Go(func() { l.settle(j) })
		}
	}
	for _, pk := range append(launched, rest...) {
		l.driveLocked(pk[0], pk[1])
	}
}

// spec is what child k of parent p runs there: the runtime from the
// cache there, in the home there, with a login's environment.
func (l *Location) spec(p, k *jobs.Job) (*task.Spec, *sdk.Job, error) {
	l.t.Lock()
	pr, kr := p.Row, k.Row
	l.t.Unlock()
	payload, err := l.t.Payload(&pr)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the job's payload: %w", err)
	}
	rs := *l.t.LaunchSpec(&pr, pr.Spec.SHA256)
	rs.Binary = path.Join(remoteRuntimes, pr.Spec.SHA256, filepath.Base(pr.Spec.Runtime))
	rs.Workdir, rs.LogFile, rs.Env = "", "", nil
	spec := &task.Spec{Runtime: rs, Grace: l.cfg.StopGrace, InheritEnv: true,
		Children: []task.Child{{Task: 0, ID: kr.ID, Name: kr.Name, InstanceID: kr.InstanceID}}}
	return spec, payload, nil
}
