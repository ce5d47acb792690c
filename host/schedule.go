package host

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
)

// scheduleLocked starts queued jobs while there is room.
func (h *Host) scheduleLocked() {
	if h.ctx.Err() != nil {
		return
	}
	var queued []*job
	for _, j := range h.jobs {
		if j.row.State == api.NotStarted && j.rt == nil && j.row.Slurm == nil {
			queued = append(queued, j)
		}
	}
	sort.Slice(queued, func(a, b int) bool { return queued[a].row.ID < queued[b].row.ID })
	settled := false
	for _, j := range queued {
		if len(j.row.After) > 0 {
			ready, reason := h.depsLocked(j)
			if reason != "" {
				h.finishLocked(j, api.Failed, reason, nil)
				h.goAsync(func() { h.persist(j) })
				settled = true
				continue
			}
			if !ready {
				continue
			}
		}
		if !h.takeSlotLocked(j) {
			continue
		}
		j.row.State = api.Running
		now := time.Now()
		j.row.PSBeginTime = &now
		j.notifyLocked()
		h.goAsync(func() { h.run(j) })
	}
	if settled {
		// The jobs that just failed may be what others wait for.
		h.scheduleLocked()
	}
}

// Slots: a job takes one of its group's (see queue.go); a thread job
// instead one of its throttle limit among the thread jobs sharing its
// runtime and user's process.

// threadKey names the thread jobs that share a process.
func threadKey(r *store.Row) string {
	uid := uint32(0)
	if r.RunAs != nil {
		uid = r.RunAs.UID
	}
	return fmt.Sprintf("%s|%s|%d", r.Spec.Runtime, r.Spec.SHA256, uid)
}

// takeSlotLocked takes a slot for j if one is free.
func (h *Host) takeSlotLocked(j *job) bool {
	if j.row.ThrottleLimit > 0 {
		k := threadKey(&j.row)
		if h.threads[k] >= j.row.ThrottleLimit {
			return false
		}
		h.threads[k]++
		return true
	}
	g := j.row.GroupOf()
	if h.running[g] >= h.limitLocked(g) {
		return false
	}
	h.running[g]++
	return true
}

// freeSlotLocked gives j's slot back.
func (h *Host) freeSlotLocked(j *job) {
	if j.row.ThrottleLimit > 0 {
		k := threadKey(&j.row)
		if h.threads[k]--; h.threads[k] <= 0 {
			delete(h.threads, k)
		}
		return
	}
	g := j.row.GroupOf()
	if h.running[g]--; h.running[g] <= 0 {
		delete(h.running, g)
	}
}

// run gets j a runtime process and relays its records.
func (h *Host) run(j *job) {
	h.mu.Lock()
	r := j.row
	h.mu.Unlock()
	fail := func(reason string) {
		h.mu.Lock()
		h.freeSlotLocked(j)
		failed := j.row.State == api.Running // not stopped meanwhile
		if failed {
			h.finishLocked(j, api.Failed, reason, nil)
		}
		h.scheduleLocked()
		h.mu.Unlock()
		if failed {
			h.persist(j)
		}
	}
	// The runtime as installed now: a reinstall of the same version since
	// the job was queued is what runs (the launcher checks it again, as
	// it opens it).
	sha, err := h.checkRuntime(&r)
	if err != nil {
		fail(err.Error())
		return
	}
	if fi, err := os.Stat(r.Workdir); err != nil || !fi.IsDir() {
		fail(fmt.Sprintf("the working directory %s is gone", r.Workdir))
		return
	}
	payload, err := h.payload(&r)
	if err != nil {
		fail(err.Error())
		return
	}
	// The record log, made now that the job runs (a start makes no file).
	h.mu.Lock()
	needLog := j.log == nil
	h.mu.Unlock()
	if needLog {
		lg, err := recordlog.Open(h.logPath(r.ID), 0)
		if err != nil {
			fail(fmt.Sprintf("cannot create the job's record log: %v", err))
			return
		}
		h.mu.Lock()
		j.log = lg
		h.mu.Unlock()
	}
	var p launch.Process
	if sh, ok := h.launcher.(launch.Sharer); ok && r.ThrottleLimit > 0 {
		p, err = sh.LaunchShared(h.ctx, h.launchSpec(&r, sha))
	} else {
		p, err = h.launcher.Launch(h.ctx, h.launchSpec(&r, sha))
	}
	if err != nil {
		fail(err.Error())
		return
	}
	h.mu.Lock()
	if j.row.State != api.Running {
		// Stopped while the runtime was starting.
		h.mu.Unlock()
		h.release(j, p)
		return
	}
	j.rt = p
	j.notifyLocked() // a suspend waits for the job to have its runtime
	var att *attachRecord
	if a := p.Attach(); a != nil {
		att = &attachRecord{Attach: *a, Begin: j.row.PSBeginTime}
		// The protocol the process negotiated is the one the job runs on.
		j.row.Runtime.Protocol = a.Protocol
	}
	h.mu.Unlock()
	// Recorded before the runtime gets the job (it starts a job only when
	// asked to run it), so a job that runs can always be found again.
	if att != nil {
		if err := h.journal.SaveAttach(r.ID, att); err != nil {
			h.log.Warn("cannot record how to reattach to the job's runtime", "job", r.ID, "err", err)
		}
	}
	h.relay(j, p, payload, 0)
}

// launchSpec is the process a job's runtime must be.
func (h *Host) launchSpec(r *store.Row, sha string) *launch.Spec {
	var id launch.Identity
	if r.RunAs != nil {
		id = launch.Identity{UID: r.RunAs.UID, GID: r.RunAs.GID, Groups: r.RunAs.Groups}
	}
	return &launch.Spec{
		Identity: id,
		Binary:   r.Spec.Runtime, SHA256: sha, Protocol: r.Runtime.Protocol,
		OS: r.Runtime.OS, Arch: r.Runtime.Arch, Name: r.Runtime.Name, Version: r.Runtime.Version, Workdir: r.Workdir,
		LogFile: h.runtimeLogPath(r.ID),
	}
}

// checkRuntime verifies the job's runtime binary before launch and returns
// the SHA-256 it must have. The entry Start resolved is checked first, which
// costs an open and a stat while the catalog's verification cache holds;
// only if that fails (the runtime was reinstalled or removed meanwhile) is
// the catalog listed again, and the entry now at that path, if it is the
// same runtime and version, is what the job runs.
func (h *Host) checkRuntime(r *store.Row) (string, error) {
	e := &catalog.Entry{Path: r.Spec.Runtime, Manifest: catalog.Manifest{SHA256: r.Spec.SHA256}}
	e.Name, e.Version, e.OS, e.Arch = r.Runtime.Name, r.Runtime.Version, r.Runtime.OS, r.Runtime.Arch
	verr := h.catalog.Verify(e)
	if verr == nil {
		return e.SHA256, nil
	}
	// Refused because someone else could change it: that is the reason
	// to give, not that the runtime seems gone.
	if errors.Is(verr, catalog.ErrUnsafe) {
		return "", verr
	}
	entries, err := h.catalog.List()
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Path == r.Spec.Runtime && e.Name == r.Runtime.Name && e.Version == r.Runtime.Version {
			return e.SHA256, h.catalog.Verify(e)
		}
	}
	return "", fmt.Errorf("the runtime %s %s (%s) is no longer installed", r.Runtime.Name, r.Runtime.Version, r.Spec.Runtime)
}
