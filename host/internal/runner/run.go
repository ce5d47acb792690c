package runner

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
)

// Slots: a job takes one of its group's (see queue.go); a thread job
// instead one of its throttle limit among the thread jobs sharing its
// runtime and user's process.

// Run gets j a runtime process and relays its records.
func (m *Manager) Run(j *jobs.Job) {
	m.t.Lock()
	r := j.Row
	m.t.Unlock()
	fail := func(reason string) {
		m.t.Lock()
		launched(j)
		m.t.FreeSlotLocked(j)
		failed := j.Row.State == api.Running // not stopped meanwhile
		if failed {
			m.t.FinishLocked(j, api.Failed, reason, nil)
		}
		m.t.ScheduleLocked()
		m.t.Unlock()
		if failed {
			m.t.Persist(j)
		}
	}
	// The runtime as installed now: a reinstall of the same version since
	// the job was queued is what runs (the launcher checks it again, as
	// it opens it).
	sha, err := m.checkRuntime(&r)
	if err != nil {
		fail(err.Error())
		return
	}
	if fi, err := os.Stat(r.Workdir); err != nil || !fi.IsDir() {
		fail(fmt.Sprintf("the working directory %s is gone", r.Workdir))
		return
	}
	// Whom it runs as, as the machine says now: the groups a start
	// recorded may be hours old (--at, --after, a retry), and a user
	// taken out of a group, or gone, must not run with what they had.
	if r.RunAs != nil {
		id, err := identity.Now(r.User, r.RunAs)
		if err != nil {
			fail(fmt.Sprintf("cannot run the job as its user: %v", err))
			return
		}
		r.RunAs = id
	}
	payload, err := m.t.Payload(&r)
	if err != nil {
		fail(err.Error())
		return
	}
	// The record log, made now that the job runs (a start makes no file).
	m.t.Lock()
	needLog := j.Log == nil
	var slot *int
	if j.SlotHeld {
		// Its slot in its group, so that jobs sharing devices take one
		// each (CUDA_VISIBLE_DEVICES=$BGJOB_SLOT), as pueue's
		// PUEUE_WORKER_ID.
		n := j.Slot
		slot = &n
		payload.Env = append(slices.DeleteFunc(payload.Env, func(kv string) bool { return strings.HasPrefix(kv, "BGJOB_SLOT=") }),
			fmt.Sprintf("BGJOB_SLOT=%d", n))
	}
	m.t.Unlock()
	if needLog {
		lg, err := recordlog.Create(m.t.LogPath(r.ID))
		if err != nil {
			fail(fmt.Sprintf("cannot create the job's record log: %v", err))
			return
		}
		m.t.Lock()
		j.Log = lg
		m.t.Unlock()
	}
	var p launch.Process
	if sh, ok := m.launcher.(launch.Sharer); ok && r.ThrottleLimit > 0 {
		p, err = sh.LaunchShared(m.t.Ctx(), m.t.LaunchSpec(&r, sha))
	} else {
		p, err = m.launcher.Launch(m.t.Ctx(), m.t.LaunchSpec(&r, sha))
	}
	if err != nil {
		fail(err.Error())
		return
	}
	// stopped reports, with the table locked, whether j was stopped while
	// its runtime was starting; if it was, its slot is freed before a
	// restart waiting for this may start the job again.
	stopped := func() bool {
		if j.Row.State == api.Running {
			return false
		}
		m.t.Unlock()
		m.task(j, p).release()
		m.t.Lock()
		launched(j)
		m.t.Unlock()
		return true
	}
	m.t.Lock()
	if stopped() {
		return
	}
	var att *jobs.AttachRecord
	if a := p.Attach(); a != nil {
		att = &jobs.AttachRecord{Attach: *a, Begin: j.Row.PSBeginTime, Slot: slot, Attempt: j.Row.Attempt}
	}
	m.t.Unlock()
	// Recorded while the job still counts as starting: a stop meanwhile
	// ends it as one whose runtime was starting (below).
	if att != nil {
		if err := m.recordStart(&r, att); err != nil {
			m.t.Go(p.Release)
			fail(fmt.Sprintf("the job was not run: %v", err))
			return
		}
	}
	m.t.Lock()
	if stopped() {
		return
	}
	// A new attempt's runtime, no stop asked of it yet; a suspend, and a
	// restart in place (see launched), wait for the job to have it.
	j.Launching, j.RT, j.StopAsked = false, p, false
	j.NotifyLocked()
	if att != nil {
		// The protocol the process negotiated is the one the job runs on.
		j.Row.Runtime.Protocol = att.Protocol
	}
	m.t.Unlock()
	m.task(j, p).relay(payload, 0)
}

// checkRuntime verifies the job's runtime binary before launch and returns
// the SHA-256 it must have. The entry Start resolved is checked first, which
// costs a stat while it is the file last verified (catalog.Unchanged: the
// launcher checks the whole path again whenever it starts a process);
// only if that fails (the runtime was reinstalled or removed meanwhile) is
// the catalog listed again, and the entry now at that path, if it is the
// same runtime and version, is what the job runs.
func (m *Manager) checkRuntime(r *store.Row) (string, error) {
	e := &catalog.Entry{Path: r.Spec.Runtime, Manifest: catalog.Manifest{SHA256: r.Spec.SHA256}}
	e.Name, e.Version, e.OS, e.Arch = r.Runtime.Name, r.Runtime.Version, r.Runtime.OS, r.Runtime.Arch
	verr := m.catalog.Unchanged(e)
	if verr == nil {
		return e.SHA256, nil
	}
	// Refused because someone else could change it: that is the reason
	// to give, not that the runtime seems gone.
	if errors.Is(verr, catalog.ErrUnsafe) {
		return "", verr
	}
	entries, err := m.catalog.List()
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Path == r.Spec.Runtime && e.Name == r.Runtime.Name && e.Version == r.Runtime.Version {
			return e.SHA256, m.catalog.Verify(e)
		}
	}
	return "", fmt.Errorf("the runtime %s %s (%s) is no longer installed", r.Runtime.Name, r.Runtime.Version, r.Spec.Runtime)
}

// launched says j's runner is done starting its runtime, one way or the
// other (see jobs.Job.Launching), and wakes a restart waiting for that.
func launched(j *jobs.Job) {
	j.Launching = false
	j.NotifyLocked()
}
