package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/launch"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/process"
)

// Recover loads the job table and puts each job back to work.
//
// Every job is loaded and in its final state before the table is published
// and before any relay starts: a reattached job that ends at once schedules
// the queue, which must not find a running job still marked NotStarted (it
// would run it a second time) or a job whose log is not open yet.
func (m *Manager) Recover() error {
	rows, bad, err := m.store.All()
	if err != nil {
		return fmt.Errorf("cannot read the job table: %w", err)
	}
	cursors, err := m.cursors.All()
	if err != nil {
		return fmt.Errorf("cannot read the job cursors: %w", err)
	}
	type reattached struct {
		j     *jobs.Job
		p     launch.Process
		after uint64
	}
	damage := m.journal.Damaged()
	rebooted := m.machineRestarted()
	marks, marksErr := m.store.StartedAll()
	if marksErr != nil {
		m.log.Error("cannot read the batches' marks", "err", marksErr)
	}
	for _, d := range damage {
		m.log.Error("the journal is damaged", "at", d.Offset, "bytes", d.Len)
	}
	var (
		toAttach []pendingAttach
		blocked  []*jobs.Job // their runtimes stopped
		relays   []reattached
		held     []*jobs.Job // suspended, their processes alive
		changed  []*store.Row
		settled  []uint64 // finished jobs whose cursors the rows now cover
		loaded   = make(map[uint64]*jobs.Job, len(rows))
	)
	for _, b := range bad {
		// A row that cannot be read stays listed, failed, so that the user
		// sees it and can remove it; it is never rewritten.
		// Whose it was is in the damaged row: root and the host's own
		// user see it.
		j := jobs.NewJob(&store.Row{Job: api.Job{ID: b.ID, State: api.NotStarted, Name: fmt.Sprintf("Job%d", b.ID), PSJobTypeName: "BackgroundJob",
			Location: "localhost", ChildJobs: []uint64{}, Owner: m.cfg.Self.Name}, OwnerUID: m.cfg.Self.UID})
		m.t.FinishLocked(j, api.Failed, fmt.Sprintf("the job table's row for this job is damaged (%v); remove it with 'bgjob remove --force %d'", b.Err, b.ID), nil)
		j.Unreadable = true
		loaded[b.ID] = j
		m.log.Error("a job's row is damaged", "job", b.ID, "err", b.Err)
	}
	var earlier []*jobs.Job // start --wait jobs of an earlier boot
	for _, r := range rows {
		if r.Owner == "" {
			// A row from before owners: the host's user's, as it was.
			r.OwnerUID, r.Owner = m.cfg.Self.UID, m.cfg.Self.Name
		}
		j := jobs.NewJob(r)
		loaded[r.ID] = j
		cur, hasCursor := cursors[r.ID]
		delete(cursors, r.ID)
		if jobs.FromEarlierBoot(r) {
			// Its caller went with the machine's last boot, and a caller
			// that goes away has its job stopped and removed: so it is,
			// rather than run, or kept, for nobody. Stopped first, so
			// that the jobs that run after it fail as after any stopped
			// job; removed once the table is published (below).
			if !r.State.Finished() {
				j.Row.KeptRecords = nil // see below: its runtime had them
				m.t.FinishLocked(j, api.Stopped, "stopped and removed: a start --wait job from before the machine restarted, whose caller is gone", nil)
			}
			earlier = append(earlier, j)
			continue
		}
		if r.State.Finished() {
			// A receive may have delivered more than the row says.
			if hasCursor && cur.ReadOffset > j.Row.ReadOffset && cur.ReadOffset <= j.Row.LogSize {
				j.Row.ReadOffset = cur.ReadOffset
				changed = append(changed, &j.Row)
			}
			if hasCursor {
				settled = append(settled, r.ID)
			}
			continue
		}
		// Records are kept in a row only with its end (see relay): an
		// unfinished row's are not its records' durable copy, its runtime
		// has them.
		j.Row.KeptRecords = nil
		if jobs.IsBatchParent(r) {
			// It runs nothing and has no records: its state follows its
			// children's once they are loaded (Table.PublishLocked).
			continue
		}
		// The log may hold more than the row says, and a torn tail. The
		// cursor says how far it held whole records lately, so only what
		// follows is read.
		from := recordlog.End{Size: j.Row.LogSize, LastSeq: j.Row.LastSeq}
		if hasCursor && cur.LogSize >= from.Size {
			from = recordlog.End{Size: cur.LogSize, LastSeq: cur.LastSeq}
		}
		end, err := recordlog.ScanFrom(m.t.LogPath(r.ID), from)
		if err != nil && from.Size > 0 {
			// The checkpoint does not fit the log: read it all.
			end, err = recordlog.Scan(m.t.LogPath(r.ID))
		}
		if err != nil {
			// Damage the job cannot recover from: it fails, with what it
			// has up to the damage, and its runtime is ended; the log is
			// left as it is, and the other jobs serve on.
			m.log.Error("a job's record log is damaged", "job", r.ID, "err", err)
			j.Row.LogSize, j.Row.LastSeq = end.Size, end.LastSeq
			m.t.FinishLocked(j, api.Failed, fmt.Sprintf("the job's records are damaged (%v); the records before the damage are kept, and the job's runtime was ended", err), nil)
			m.endStray(r.ID)
			changed = append(changed, &j.Row)
			settled = append(settled, r.ID)
			continue
		}
		j.Row.LogSize = end.Size
		// Records a receive took straight from the relay are numbered but
		// not logged: the runtime must not send them again.
		j.Row.LastSeq = max(end.LastSeq, cur.LastSeq)
		if cur.ReadOffset > j.Row.ReadOffset && cur.ReadOffset <= end.Size {
			j.Row.ReadOffset = cur.ReadOffset
		}
		// A log with no whole records (a queued job's, a silent one's) is
		// made when records come, as a new one is: a restart with 100,000
		// queued batch children makes no file and holds no descriptor
		// for them.
		if end.Size == 0 {
			j.Log, err = recordlog.Create(m.t.LogPath(r.ID))
		} else {
			j.Log, err = recordlog.Open(m.t.LogPath(r.ID), end.Size)
		}
		if err != nil {
			return fmt.Errorf("job %d: %w", r.ID, err)
		}
		if r.Elsewhere() != "" {
			// Slurm or a computer over SSH runs it; its location takes
			// it from here.
			continue
		}
		var att jobs.AttachRecord
		hasAttach := m.journal.LoadAttach(r.ID, &att) == nil
		if hasAttach && jobs.StaleAttach(r, att.Attempt) {
			hasAttach = false // dropped below
		}
		suspended := r.State == api.Suspended || r.State == api.Suspending
		switch {
		case suspended && r.SuspendedFrom != api.Running && r.State == api.Suspended:
			// Suspended in the queue: it stays so.
		case suspended && hasAttach && stopped(&att.Attach):
			// Its processes are stopped and cannot answer a reattach;
			// resume reattaches. It keeps its slot meanwhile. (A runtime
			// that runs was never stopped, or a resume had continued
			// its session, the runtime last, when its host was killed:
			// its job runs, and is taken back below as Running.)
			m.t.MoveLocked(j, api.Suspended)
			j.Row.SuspendedFrom = api.Running
			j.Row.PSBeginTime = att.Begin
			j.KeepSlotLocked(att.Slot)
			j.Row.Attempt = max(j.Row.Attempt, att.Attempt)
			j.Detached = &att
			held = append(held, j)
		case !hasAttach && m.lostAttach(r.ID, r.State, damage):
			// Its attach record may have been in the damaged bytes: it
			// may be running, and must not run twice. Its runtime, if
			// any, is no running job's and is ended (sweep).
			m.t.FinishLocked(j, api.Failed, fmt.Sprintf("the host's journal (%s) is damaged (%s), where the record of this job's runtime may have been; the job was not run again, and its runtime, if it had one, was stopped; the records it sent before (up to number %d) are kept",
				filepath.Join(m.cfg.Home, "journal"), damage[0], j.Row.LastSeq), nil)
			changed = append(changed, &j.Row)
		case !hasAttach && r.State == api.NotStarted:
			if why := mayHaveStarted(r, rebooted, marks, marksErr); why != "" {
				m.t.FinishLocked(j, api.Failed, why, nil)
				changed = append(changed, &j.Row)
				break
			}
			// Queued, or its runtime never got the job (a runtime starts
			// a job only once its host has recorded how to reattach).
			if jobs.Retrying(r) {
				j.Requeued()
			}
		case !hasAttach:
			m.t.FinishLocked(j, api.Failed, "the host stopped before the job's runtime had started", nil)
			changed = append(changed, &j.Row)
		case stopped(&att.Attach):
			// A runtime stopped with SIGSTOP (a job may stop its own)
			// cannot answer a reattach, and go-plugin would wait 20 s
			// for it, with every command waiting on this host. It is
			// not waited on: the job is Blocked, keeps its slot, and
			// is taken back once its runtime runs again (takeBack).
			m.t.MoveLocked(j, api.Blocked)
			j.Row.PSBeginTime = att.Begin
			j.KeepSlotLocked(att.Slot)
			j.Row.Attempt = max(j.Row.Attempt, att.Attempt)
			j.Row.StateReason = fmt.Sprintf("its runtime (process %d) is stopped (SIGSTOP); the host takes the job back once it runs again", att.Pid)
			j.Detached = &att
			held = append(held, j)
			blocked = append(blocked, j)
		default:
			m.t.MoveLocked(j, api.Running)
			j.Row.SuspendedFrom = ""
			j.Row.PSBeginTime = att.Begin
			j.KeepSlotLocked(att.Slot)
			// The row may not have been written since the attempt
			// began.
			j.Row.Attempt = max(j.Row.Attempt, att.Attempt)
			toAttach = append(toAttach, pendingAttach{j: j, att: att})
		}
	}
	// Reattached side by side: one runtime slow to answer does not hold
	// up the others.
	for _, pa := range m.reattachAll(toAttach) {
		j := pa.j
		if pa.err != nil {
			m.t.FinishLocked(j, api.Failed, fmt.Sprintf("the host stopped while the job ran, and its runtime could not be reattached (%v); the records it sent before (up to number %d) are kept", pa.err, j.Row.LastSeq), nil)
			changed = append(changed, &j.Row)
			settled = append(settled, j.Row.ID)
			continue
		}
		m.log.Info("reattached to a running job", "job", j.Row.ID, "pid", pa.p.Pid(), "after", j.Row.LastSeq)
		j.RT = pa.p
		relays = append(relays, reattached{j, pa.p, j.Row.LastSeq})
	}
	// A job on several nodes: each parent's children, in id order.
	for _, r := range rows {
		if p := loaded[r.Parent]; r.Parent != 0 && p != nil {
			p.Children = append(p.Children, loaded[r.ID])
		}
	}
	for _, j := range loaded {
		jobs.SortJobs(j.Children)
		if len(j.Children) > 0 && len(j.Row.ChildJobs) != len(j.Children) {
			// A host that died while submitting wrote the children
			// before the parent's list of them.
			j.Row.ChildJobs = j.Row.ChildJobs[:0]
			for _, k := range j.Children {
				j.Row.ChildJobs = append(j.Row.ChildJobs, k.Row.ID)
			}
		}
	}
	m.sweep(loaded)
	if len(changed) > 0 {
		if err := m.store.Put(changed...); err != nil {
			return fmt.Errorf("cannot update the job table: %w", err)
		}
	}
	for _, id := range settled {
		m.cursors.Drop(id)
	}
	for id := range cursors { // of jobs no longer in the table
		m.cursors.Drop(id)
	}
	for _, id := range m.journal.Attached() {
		if j := loaded[id]; j == nil || j.Row.State.Finished() || jobs.Retrying(&j.Row) {
			m.journal.DropAttach(id)
		}
	}
	m.t.LoadTombs()
	// What a host killed mid-job left in the journal is settled now: keep
	// the live values only.
	if err := m.journal.Compact(); err != nil {
		m.log.Warn("cannot compact the journal", "err", err)
	}
	m.settleStartMarks(loaded, marks)
	m.t.Lock()
	m.t.PublishLocked(loaded)
	for _, rl := range relays {
		held = append(held, rl.j)
	}
	for _, j := range held {
		// More running than the limits allow now: counted anyway.
		m.t.HoldSlotLocked(j)
	}
	m.t.Unlock()
	for _, j := range earlier {
		// As any removal: its files, cursor and attach record go, and
		// the jobs that run after it are settled.
		if err := m.t.Remove(j); err != nil {
			m.log.Warn("cannot remove a start --wait job from before the machine restarted", "job", j.Row.ID, "err", err)
			continue
		}
		m.log.Info("removed a start --wait job from before the machine restarted: its caller is gone", "job", j.Row.ID)
	}
	for _, rl := range relays {
		// The runtime has the job already; the payload is only how the
		// protocol names it, so one that cannot be read does no harm.
		payload, err := m.t.Payload(&rl.j.Row)
		if err != nil {
			payload = &sdk.Job{Id: rl.j.Row.ID}
		}
		m.t.Go(func() { m.task(rl.j, rl.p).relay(payload, rl.after) })
	}
	for _, j := range blocked {
		m.t.Go(func() { m.takeBack(j) })
	}
	return nil
}

// pendingAttach is a job whose runtime recover reattaches, and how that
// went.
type pendingAttach struct {
	j   *jobs.Job
	att jobs.AttachRecord
	p   launch.Process
	err error
}

// reattachAll reattaches the runtimes of jobs, at most maxReattach at once.
func (m *Manager) reattachAll(pending []pendingAttach) []pendingAttach {
	sem := make(chan struct{}, maxReattach)
	var wg sync.WaitGroup
	for i := range pending {
		wg.Add(1)
		sem <- struct{}{}
		go func(pa *pendingAttach) {
			defer func() { <-sem; wg.Done() }()
			pa.p, pa.err = m.launcher.Reattach(&pa.att.Attach, m.t.RuntimeLogPath(pa.j.Row.ID))
		}(&pending[i])
	}
	wg.Wait()
	return pending
}

// maxReattach bounds the reattaches a starting host runs at once.
const maxReattach = 8

// stopped reports whether the runtime a records is stopped (SIGSTOP): the
// process recorded (pid and start time), in state T.
func stopped(a *launch.Attach) bool {
	if st, ok := process.StartTime(a.Pid); !ok || (a.Start != 0 && st != a.Start) {
		return false
	}
	st, ok := process.State(a.Pid)
	return ok && (st == 'T' || st == 't')
}

// takeBack waits until the stopped runtime of Blocked job j runs again,
// then reattaches it; it gives up when the job is stopped or removed
// meanwhile, or the host closes.
func (m *Manager) takeBack(j *jobs.Job) {
	tick := time.NewTicker(takeBackPoll)
	defer tick.Stop()
	for {
		select {
		case <-m.t.Ctx().Done():
			return
		case <-tick.C:
		}
		m.t.Lock()
		att := j.Detached
		if j.Row.State != api.Blocked || att == nil {
			m.t.Unlock()
			return
		}
		if stopped(&att.Attach) {
			m.t.Unlock()
			continue
		}
		m.t.MoveLocked(j, api.Running)
		j.Row.StateReason = ""
		j.Detached = nil
		j.NotifyLocked()
		m.t.Unlock()
		m.t.Persist(j)
		m.log.Info("a stopped runtime runs again; taking its job back", "job", j.Row.ID, "pid", att.Pid)
		m.reattachLater(j, att, "its runtime was stopped when the host started")
		return
	}
}

// takeBackPoll is how often takeBack looks at a stopped runtime.
const takeBackPoll = 250 * time.Millisecond

// endStray ends the runtime of a job the host cannot take back.
func (m *Manager) endStray(id uint64) {
	var att jobs.AttachRecord
	if m.journal.LoadAttach(id, &att) != nil {
		return
	}
	if p, err := m.launcher.Reattach(&att.Attach, m.t.RuntimeLogPath(id)); err == nil {
		p.Release()
	}
}

// lostAttach reports whether job id, without an attach record, may have
// lost it to damage in the journal: there is damage, and it claims to be
// this job's record, or the job got as far as a runtime (the launcher made
// its runtime log) or past NotStarted.
func (m *Manager) lostAttach(id uint64, state api.State, damage []store.Damage) bool {
	if len(damage) == 0 {
		return false
	}
	for _, d := range damage {
		if d.Attach(id) {
			return true
		}
	}
	if state != api.NotStarted {
		return true
	}
	_, err := os.Lstat(m.t.RuntimeLogPath(id))
	return err == nil
}

// sweep removes what a host that was killed left behind: spares nobody
// took, their logs, and socket directories of jobs that are finished or
// gone. What a running job's process uses (its attach record says so)
// stays.
func (m *Manager) sweep(loaded map[uint64]*jobs.Job) {
	inUse := map[string]bool{}
	for id, j := range loaded {
		if j.Row.State.Finished() {
			continue
		}
		// A failed attempt's record (the job waits to run again) names a
		// runtime no one reattaches (see Recover): its process is not in
		// use. Kept, it lived on holding that attempt's end if its
		// host was killed before acknowledging it.
		var att jobs.AttachRecord
		if m.journal.LoadAttach(id, &att) == nil && !jobs.StaleAttach(&j.Row, att.Attempt) {
			inUse[att.SockDir] = true
		}
	}
	if s, ok := m.launcher.(launch.Sweeper); ok {
		s.Sweep(func(dir string) bool { return inUse[dir] })
	}
	// Runtime logs of spares nobody took, and of jobs the table does not
	// have: a start --wait row a power loss took before its sync, whose
	// id may be given again, must not leave its log to the next job of
	// that id.
	logs, _ := filepath.Glob(filepath.Join(m.t.JobsDir(), "*.runtime.log"))
	for _, l := range logs {
		base := strings.TrimSuffix(filepath.Base(l), ".runtime.log")
		if id, err := strconv.ParseUint(base, 10, 64); strings.HasPrefix(base, "spare") || err == nil && loaded[id] == nil {
			os.Remove(l)
		}
	}
}
