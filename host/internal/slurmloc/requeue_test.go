package slurmloc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/slurm"
	"github.com/bgjob/bgjob/host/store"
)

// requeueJob is a table in a directory of t's holding a running Slurm job
// of one task, and the Slurm location following it.
func requeueJob(t *testing.T) (*Location, *jobs.Job, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	jl, err := store.OpenJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		jl.Close()
		st.Close()
	})
	tab := jobs.New(jobs.Config{Home: dir, Store: st, Journal: jl, Cursors: store.OpenCursors(jl, ""), MaxRunning: 1, Run: func(*jobs.Job) {}})
	t.Cleanup(tab.Close)
	jobDir := filepath.Join(dir, "slurm", "job")
	if err := os.MkdirAll(jobDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := jobs.NewJob(&store.Row{Job: api.Job{ID: 1, Name: "J", State: api.Running, Location: "vm", ChildJobs: []uint64{2}},
		Slurm: &store.SlurmJob{Dir: jobDir, JobID: "9"}})
	k := jobs.NewJob(&store.Row{Job: api.Job{ID: 2, Name: "J.0", State: api.Running, Location: "vm"}, Parent: 1,
		Slurm: &store.SlurmJob{Dir: jobDir}})
	p.Children = []*jobs.Job{k}
	tab.Lock()
	tab.PublishLocked(map[uint64]*jobs.Job{1: p, 2: k})
	tab.Unlock()
	return New(Config{Table: tab}), k, jobDir
}

// writeTaskFile writes a task's start or end as the task does.
func writeTaskFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// childIs fails t unless child k is in state want, at run run, with a
// reason holding reason.
func childIs(t *testing.T, l *Location, k *jobs.Job, want api.State, run int, reason string) {
	t.Helper()
	l.t.Lock()
	defer l.t.Unlock()
	if k.Row.State != want || k.Row.Slurm.Run != run || !strings.Contains(k.Row.StateReason, reason) {
		t.Errorf("the child is %s at run %d (%q); want %s at run %d, its reason saying %q", k.Row.State, k.Row.Slurm.Run, k.Row.StateReason, want, run, reason)
	}
}

// A run that Slurm requeued ends with TERM, as a cancel does; Slurm then
// has the job PENDING again with one restart more. The child waits for
// the next run, NotStarted, and what the first run's task wrote is not
// taken for the next run's start or end; the next run's are.
func TestRequeuedJobRunsAgain(t *testing.T) {
	l, k, dir := requeueJob(t)
	zero := 0
	begun := time.Now().Add(-time.Minute)
	writeTaskFile(t, slurm.StartPath(dir, 0), slurm.Started{Node: "vm", Time: begun})
	writeTaskFile(t, slurm.DonePath(dir, 0), slurm.Ended{State: "Stopped", ExitCode: &zero, Reason: "stopped", LastSeq: 1, Signalled: true})

	l.followTask(k, slurm.JobState{ID: "9", State: "PENDING", Reason: "BeginTime", Restarts: 1}, false)
	childIs(t, l, k, api.NotStarted, 1, "Slurm requeued the job (Slurm job 9)")
	// Asked again, or not asked this time: the first run's files change
	// nothing.
	l.followTask(k, slurm.JobState{ID: "9", State: "PENDING", Restarts: 1}, false)
	l.followTask(k, slurm.JobState{ID: "9"}, false)
	childIs(t, l, k, api.NotStarted, 1, "Slurm requeued the job")
	l.t.Lock()
	if k.Row.PSBeginTime != nil {
		t.Errorf("the requeued child keeps the first run's PSBeginTime %v", k.Row.PSBeginTime)
	}
	l.t.Unlock()

	// The second run begins, then ends.
	writeTaskFile(t, slurm.StartPath(dir, 0), slurm.Started{Node: "vm2", Time: time.Now(), Run: 1, Base: 2})
	l.followTask(k, slurm.JobState{ID: "9", State: "RUNNING", Restarts: 1}, false)
	childIs(t, l, k, api.Running, 1, "")
	writeTaskFile(t, slurm.DonePath(dir, 0), slurm.Ended{State: "Completed", ExitCode: &zero, LastSeq: 3, Run: 1})
	l.followTask(k, slurm.JobState{ID: "9", State: "COMPLETED", Restarts: 1}, true)
	childIs(t, l, k, api.Completed, 1, "")
	l.t.Lock()
	if k.Row.Location != "vm2" {
		t.Errorf("the child ran its second run on %q, want vm2", k.Row.Location)
	}
	l.t.Unlock()
}

// A host that was away while Slurm requeued the job and ran it again
// finds the later run's end in the task's files, and takes it.
func TestRequeuedWhileAway(t *testing.T) {
	l, k, dir := requeueJob(t)
	zero := 0
	writeTaskFile(t, slurm.StartPath(dir, 0), slurm.Started{Node: "vm", Time: time.Now(), Run: 2, Base: 4})
	writeTaskFile(t, slurm.DonePath(dir, 0), slurm.Ended{State: "Completed", ExitCode: &zero, LastSeq: 5, Run: 2})
	// sacct, asked once scontrol has forgotten the job, gives no count.
	l.followTask(k, slurm.JobState{ID: "9", State: "COMPLETED"}, true)
	childIs(t, l, k, api.Completed, 2, "")
}

// A requeued job cancelled in Slurm before its next run began was stopped
// while queued again, which its reason says; it did run once.
func TestRequeuedThenCancelled(t *testing.T) {
	l, k, dir := requeueJob(t)
	zero := 0
	writeTaskFile(t, slurm.StartPath(dir, 0), slurm.Started{Node: "vm", Time: time.Now()})
	writeTaskFile(t, slurm.DonePath(dir, 0), slurm.Ended{State: "Stopped", ExitCode: &zero, LastSeq: 1, Signalled: true})
	l.followTask(k, slurm.JobState{ID: "9", State: "PENDING", Restarts: 1}, false)
	l.followTask(k, slurm.JobState{ID: "9", State: "CANCELLED", Restarts: 1}, true)
	childIs(t, l, k, api.Stopped, 1, "stopped while Slurm held it requeued, before its run 2 began")
}
