package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/fakert"
	"github.com/bgjob/bgjob/host/internal/jobs"
	"github.com/bgjob/bgjob/host/store"
)

// A power loss keeps of the journal only what was synced, and ends every
// process. After one, a job whose runtime had been given it must not be
// taken for a job still queued and run a second time: its attach record,
// which tells the two apart, is synced before the runtime gets the job.
// (The power loss is made by cutting the journal back to what its syncs
// covered, with the fake runtime's processes gone; the table's log has
// every background job's writes synced before they are answered.)
func TestPowerLossDoesNotRunAStartedJobAgain(t *testing.T) {
	home, opts, l, h := fakeHost(t)
	j, err := h.Start(context.Background(), &api.StartRequest{Script: "echo started; wait gate", Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitBlocked(j.ID); err != nil { // its runtime has it
		t.Fatal(err)
	}
	synced := h.home.Journal.Synced()
	h.Close()
	l.Crash(j.ID)
	if err := os.Truncate(filepath.Join(home, "journal"), synced); err != nil {
		t.Fatal(err)
	}

	h2 := reopen(t, opts, l, "gate", j.ID) // a second run would not wait
	state, reason := stateOf(h2, j.ID)
	if state != api.Failed {
		t.Errorf("after a power loss the started job is %s (%q), want Failed: its runtime is gone", state, reason)
	}
	if n := l.Runs(j.ID); n != 1 {
		t.Errorf("the job was started %d times, want once", n)
	}
}

// A start --wait job pays no sync for its start: the next boot removes it
// whatever its records say (TestForegroundJobOfAnEarlierBoot).
func TestForegroundStartIsNotSynced(t *testing.T) {
	_, _, l, h := fakeHost(t)
	defer h.Close()
	// The journal's first sync also syncs its folder: done here, by a
	// background job, so that what follows sees only the foreground's.
	bg, err := h.Start(context.Background(), &api.StartRequest{Script: "wait bg", Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitBlocked(bg.ID); err != nil {
		t.Fatal(err)
	}
	before := h.home.Journal.Synced()
	if before == 0 {
		t.Fatal("a background job's start left nothing of the journal synced")
	}
	fg, err := h.Start(WithForeground(context.Background()), &api.StartRequest{Script: "wait fg", Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitBlocked(fg.ID); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(h.home.Dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.home.Journal.Synced(); got != before || fi.Size() <= got {
		t.Errorf("after a start --wait job's start the journal is %d bytes, %d of them synced (%d before it): its attach record was synced", fi.Size(), got, before)
	}
	l.Open("bg")
	l.Open("fg")
}

// A job whose start cannot be recorded (here the journal's file is closed
// under the host) fails, saying so, and its runtime is never given it: a
// job that ran unrecorded would be taken for a queued one by the next host
// and run again.
func TestJobNotRunWhenItsStartCannotBeRecorded(t *testing.T) {
	_, _, l, h := fakeHost(t)
	defer h.Close()
	h.home.Journal.Close()
	j, err := h.Start(context.Background(), &api.StartRequest{Script: "echo ran", Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(context.Background(), []string{"*"}, false, time.Minute); err != nil {
		t.Fatal(err)
	}
	state, reason := stateOf(h, j.ID)
	if state != api.Failed || !strings.Contains(reason, "not run") || !strings.Contains(reason, "journal") {
		t.Errorf("the job is %s (%q), want Failed saying it was not run and why", state, reason)
	}
	if n := l.Runs(j.ID); n != 0 {
		t.Errorf("the runtime was given the job %d times, want never", n)
	}
}

// powerLoss makes what a power loss would leave of home's journal: what
// its syncs covered (synced), written by a host of an earlier boot. The
// caller has ended every process first. (The table's log has nothing
// that was not synced: its writes wait for their syncs.)
func powerLoss(t *testing.T, home string, synced int64) {
	t.Helper()
	path := filepath.Join(home, "journal")
	if err := os.Truncate(path, synced); err != nil {
		t.Fatal(err)
	}
	jr, err := store.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	if err := jr.SaveBoot("an-earlier-boot"); err != nil {
		t.Fatal(err)
	}
}

// A batch's children do not sync each start: the batch's mark moves a few
// children ahead at a time (runner/started.go). After a power loss the
// children up to the mark that show no start are failed, not run, as they
// may have started; those past it run; and none runs twice.
func TestPowerLossDuringABatch(t *testing.T) {
	if jobs.BootID() == "" {
		t.Skip("this system names no boot, so each child syncs its start (TestPowerLossDoesNotRunAStartedJobAgain)")
	}
	home, opts, l, h := fakeHost(t)
	batch := runningBatch(t, h, l, 16)
	kids := batch.ChildJobs
	// Their runtimes have them: the batch's mark covered them, durably,
	// before (a write to the table is read back once synced).
	if marks, err := h.home.Store.StartedAll(); err != nil || marks[batch.ID] < kids[1] {
		t.Fatalf("children %v run with their batch's mark at %d (%v)", kids[:2], marks[batch.ID], err)
	}
	synced := h.home.Journal.Synced()
	h.Close()
	for _, id := range kids[:2] {
		l.Crash(id)
	}
	powerLoss(t, home, synced)
	st, err := store.Open(filepath.Join(home, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	marks, err := st.StartedAll()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	mark := marks[batch.ID]
	// The mark moved ahead of the two children started, not to the end.
	if mark < kids[1] || mark >= kids[len(kids)-1] {
		t.Fatalf("the batch's mark after the power loss is %d, want from child %d to before child %d", mark, kids[1], kids[len(kids)-1])
	}

	h2 := reopen(t, opts, l, "gate", batch.ID)
	for i, id := range kids {
		state, reason := stateOf(h2, id)
		runs := l.Runs(id)
		switch {
		case i < 2: // running at the power loss
			if state != api.Failed || runs != 1 {
				t.Errorf("child %d, running at the power loss: %s (%q), run %d times; want Failed, run once", id, state, reason, runs)
			}
		case id <= mark: // not started, but within the mark
			if state != api.Failed || runs != 0 || !strings.Contains(reason, "may have started") {
				t.Errorf("child %d, within the batch's mark %d: %s (%q), run %d times; want Failed as one that may have started, never run", id, mark, state, reason, runs)
			}
		default:
			if state != api.Completed || runs != 1 {
				t.Errorf("child %d, past the batch's mark %d: %s (%q), run %d times; want Completed, run once", id, mark, state, reason, runs)
			}
		}
	}
}

// A host killed (not the machine) leaves every attach record: a batch's
// children that had not started run after it, whatever the batch's mark.
func TestHostKillDuringABatchFailsNoChild(t *testing.T) {
	_, opts, l, h := fakeHost(t)
	batch := runningBatch(t, h, l, 6)
	h.Close() // its runtimes live on, as after a kill -9

	h2 := reopen(t, opts, l, "gate", batch.ID)
	for _, id := range batch.ChildJobs {
		state, reason := stateOf(h2, id)
		if state != api.Completed || l.Runs(id) != 1 {
			t.Errorf("child %d after the host's restart: %s (%q), run %d times; want Completed, run once", id, state, reason, l.Runs(id))
		}
	}
}

// stateOf is job id's state and reason in h.
func stateOf(h *Host, id uint64) (api.State, string) {
	j := h.t.Get(id)
	if j == nil {
		return "", "gone from the table"
	}
	h.t.Lock()
	defer h.t.Unlock()
	return j.Row.State, j.Row.StateReason
}

// reopen opens a host on opts' home again (closed when the test ends),
// opens the launcher's gate and waits until job id has ended.
func reopen(t *testing.T, opts Options, l *fakert.Launcher, gate string, id uint64) *Host {
	t.Helper()
	h, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	l.Open(gate)
	if _, err := h.Wait(context.Background(), []string{fmt.Sprint(id)}, false, time.Minute); err != nil {
		t.Fatal(err)
	}
	return h
}

// A host that closed cleanly (as a machine's shutdown closes it) syncs
// its journal and says so: after the machine's restart its attach records
// are exact, and a batch's children that had not started run, where after
// a power loss those within the batch's mark would fail.
func TestCleanRestartDuringABatchFailsNoUnstartedChild(t *testing.T) {
	if jobs.BootID() == "" {
		t.Skip("this system names no boot")
	}
	home, opts, l, h := fakeHost(t)
	batch := runningBatch(t, h, l, 6)
	kids := batch.ChildJobs
	h.Close()
	for _, id := range kids[:2] {
		l.Crash(id) // the machine's shutdown ends them
	}
	// The machine restarts: the boot the journal names is an earlier one.
	jr, err := store.OpenJournal(filepath.Join(home, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	if jr.Closed() != jobs.BootID() {
		t.Fatalf("the closed host recorded its close in boot %q, want this boot", jr.Closed())
	}
	if err := jr.SaveBoot("an-earlier-boot"); err != nil {
		t.Fatal(err)
	}
	if err := jr.SaveClosed("an-earlier-boot"); err != nil {
		t.Fatal(err)
	}
	jr.Close()

	h2 := reopen(t, opts, l, "gate", batch.ID)
	for i, id := range kids {
		state, reason := stateOf(h2, id)
		want, runs := api.Completed, 1
		if i < 2 { // running at the shutdown, its runtime gone
			want = api.Failed
		}
		if state != want || l.Runs(id) != runs {
			t.Errorf("child %d after a clean restart: %s (%q), run %d times; want %s, run once", id, state, reason, l.Runs(id), want)
		}
	}
}

// A stop that comes while a job's start is being recorded (a sync under
// way) ends the job as one whose runtime was starting: at once, Stopped,
// and its runtime is never given it.
func TestStopWhileAStartIsRecorded(t *testing.T) {
	recording, release := make(chan uint64, 1), make(chan struct{})
	_, _, l, h := fakeHost(t, func(o *Options) {
		o.startHook = func(id uint64) {
			recording <- id
			<-release
		}
	})
	var once sync.Once
	closeHost := func() { once.Do(func() { h.Close() }) }
	defer closeHost()
	j, err := h.Start(context.Background(), &api.StartRequest{Script: "echo ran", Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if id := <-recording; id != j.ID {
		t.Fatalf("job %d's start was recorded, want %d's", id, j.ID)
	}
	stopped := make(chan error, 1)
	go func() {
		_, err := h.Stop(context.Background(), []string{fmt.Sprint(j.ID)})
		stopped <- err
	}()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("stop: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the stop did not end the job while its start was being recorded")
	}
	close(release)
	if state, reason := stateOf(h, j.ID); state != api.Stopped {
		t.Errorf("the job is %s (%q), want Stopped", state, reason)
	}
	if _, err := h.Wait(context.Background(), []string{fmt.Sprint(j.ID)}, false, time.Minute); err != nil {
		t.Fatal(err)
	}
	closeHost() // waits for the runner: it has seen the stop
	if n := l.Runs(j.ID); n != 0 {
		t.Errorf("the runtime was given the stopped job %d times, want never", n)
	}
}

// fakeHost opens a host on a new home with a fake launcher, and the
// options mods change; opts opens another on the same home.
func fakeHost(t *testing.T, mods ...func(*Options)) (home string, opts Options, l *fakert.Launcher, h *Host) {
	t.Helper()
	home, l = t.TempDir(), fakert.New()
	opts = Options{Home: home, Runtimes: fakert.Catalog(t), Launcher: l}
	for _, m := range mods {
		m(&opts)
	}
	h, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return home, opts, l, h
}

// runningBatch starts a batch of n children that wait for the gate "gate",
// two at a time, and returns it once its first two children run.
func runningBatch(t *testing.T, h *Host, l *fakert.Launcher, n int) *api.Job {
	t.Helper()
	var items []string
	for i := range n {
		items = append(items, fmt.Sprint(i))
	}
	batch, err := h.Start(context.Background(), &api.StartRequest{Script: "wait gate", ForEach: items, ThrottleLimit: 2, Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.ChildJobs) != n {
		t.Fatalf("the batch has children %v, want %d", batch.ChildJobs, n)
	}
	for _, id := range batch.ChildJobs[:2] {
		if err := l.WaitBlocked(id); err != nil {
			t.Fatal(err)
		}
	}
	return batch
}
