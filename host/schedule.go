package host

import (
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/store"
)

// scheduleLocked starts queued jobs while there is room.
func (h *Host) scheduleLocked() {
	if h.ctx.Err() != nil {
		return
	}
	var queued []*job
	for _, j := range h.jobs {
		if j.row.State == api.NotStarted && j.rt == nil {
			queued = append(queued, j)
		}
	}
	sort.Slice(queued, func(a, b int) bool { return queued[a].row.ID < queued[b].row.ID })
	for _, j := range queued {
		if h.running >= h.opts.MaxRunning {
			return
		}
		h.running++
		j.row.State = api.Running
		now := time.Now()
		j.row.PSBeginTime = &now
		j.notifyLocked()
		h.goAsync(func() { h.run(j) })
	}
}

// run gets j a runtime process and relays its records.
func (h *Host) run(j *job) {
	h.mu.Lock()
	r := j.row
	h.mu.Unlock()
	fail := func(reason string) {
		h.mu.Lock()
		h.running--
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
	if err := h.checkRuntime(&r); err != nil {
		fail(err.Error())
		return
	}
	if fi, err := os.Stat(r.Workdir); err != nil || !fi.IsDir() {
		fail(fmt.Sprintf("the working directory %s is gone", r.Workdir))
		return
	}
	p, err := h.launcher.Launch(h.ctx, h.launchSpec(&r))
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
	var att *attachRecord
	if a := p.Attach(); a != nil {
		att = &attachRecord{Attach: *a, Begin: j.row.PSBeginTime}
	}
	h.mu.Unlock()
	// Recorded before the runtime gets the job (it starts a job only when
	// asked to run it), so a job that runs can always be found again.
	if att != nil {
		if err := store.SaveAttach(h.sockDir(r.ID), att); err != nil {
			h.log.Warn("cannot record how to reattach to the job's runtime", "job", r.ID, "err", err)
		}
	}
	h.relay(j, p, 0)
}

// launchSpec is the process a job's runtime must be.
func (h *Host) launchSpec(r *store.Row) *launch.Spec {
	return &launch.Spec{
		Binary: r.Spec.Runtime, SHA256: r.Spec.SHA256, Protocol: r.Runtime.Protocol,
		OS: r.Runtime.OS, Arch: r.Runtime.Arch, Workdir: r.Workdir,
		SockDir: h.sockDir(r.ID), LogFile: h.runtimeLogPath(r.ID),
	}
}

// checkRuntime verifies the job's runtime binary before launch. The entry
// Start resolved is checked first, which costs a stat while the catalog's
// verification cache holds; only if that fails (the runtime was reinstalled
// or removed meanwhile) is the catalog listed again.
func (h *Host) checkRuntime(r *store.Row) error {
	e := &catalog.Entry{Path: r.Spec.Runtime, Manifest: catalog.Manifest{SHA256: r.Spec.SHA256}}
	e.Name, e.Version, e.OS, e.Arch = r.Runtime.Name, r.Runtime.Version, r.Runtime.OS, r.Runtime.Arch
	if h.catalog.Verify(e) == nil {
		return nil
	}
	entries, err := h.catalog.List()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Path == r.Spec.Runtime {
			return h.catalog.Verify(e)
		}
	}
	return fmt.Errorf("the runtime %s %s (%s) is no longer installed", r.Runtime.Name, r.Runtime.Version, r.Spec.Runtime)
}
