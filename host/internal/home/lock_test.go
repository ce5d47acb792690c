//go:build linux

package home

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
	"github.com/hashicorp/go-hclog"
)

// openBoth opens dir as two hosts starting at once would, and returns
// what each got.
func openBoth(dir string) (a, b *Home, aerr, berr error) {
	type res struct {
		h   *Home
		err error
	}
	ch := make(chan res, 2)
	for range 2 {
		go func() {
			h, err := Open(dir, false, hclog.NewNullLogger())
			ch <- res{h, err}
		}()
	}
	x, y := <-ch, <-ch
	return x.h, y.h, x.err, y.err
}

func newHomeDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Two hosts starting at once on a home whose job table is compacted as it
// opens: only one serves. The table's own lock is on the file compaction
// replaces, and a host waiting for it got the lock of the old, unlinked
// file and served beside the first: a queued job ran twice.
func TestOneHostWhileTheTableIsCompacted(t *testing.T) {
	dir := newHomeDir(t)
	h, err := Open(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for range 40 {
		r := &store.Row{Job: api.Job{Name: "x", State: api.Completed}}
		if err := h.Store.Create(r, func(id uint64) []byte { r.ID = id; return make([]byte, 200<<10) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	// Closed, so that the rows reach the table's file; then removed,
	// leaving it mostly free.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if h, err = Open(dir, false, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := h.Store.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "jobs.db")
	table, err := os.ReadFile(db)
	if err != nil || len(table) < 4<<20 {
		t.Fatalf("a table of %d bytes (%v): too small to be compacted at open", len(table), err)
	}
	for round := range 10 {
		if err := os.WriteFile(db, table, 0o600); err != nil {
			t.Fatal(err)
		}
		a, b, aerr, berr := openBoth(dir)
		if (aerr == nil) == (berr == nil) {
			t.Errorf("round %d: opened by both or by none: %v, %v", round, aerr, berr)
		}
		for _, e := range []error{aerr, berr} {
			if e != nil && !strings.Contains(e.Error(), "another bgjob host is already running") {
				t.Errorf("round %d: the second host was refused with %v; want that another host runs", round, e)
			}
		}
		for _, h := range []*Home{a, b} {
			if h != nil {
				h.Close()
			}
		}
	}
}

// Two hosts starting at once on a home whose job table is damaged: only
// one serves, and the damaged table is kept, set aside. Both used to serve,
// the second setting aside the first's new table over the damaged one.
func TestOneHostSetsADamagedTableAside(t *testing.T) {
	damaged := bytes.Repeat([]byte("this is not a job table "), 1000)
	for round := range 10 {
		dir := newHomeDir(t)
		if err := os.WriteFile(filepath.Join(dir, "jobs.db"), damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		a, b, aerr, berr := openBoth(dir)
		if (aerr == nil) == (berr == nil) {
			t.Errorf("round %d: opened by both or by none: %v, %v", round, aerr, berr)
		}
		aside, _ := filepath.Glob(filepath.Join(dir, "jobs.db.corrupt-*"))
		kept := false
		for _, p := range aside {
			if got, _ := os.ReadFile(p); bytes.Equal(got, damaged) {
				kept = true
			}
		}
		if !kept {
			t.Errorf("round %d: the damaged table is not kept (set aside: %v)", round, aside)
		}
		for _, h := range []*Home{a, b} {
			if h != nil {
				h.Close()
			}
		}
	}
}

// A sound table the host cannot map (its address space limited, as ulimit
// -v does on many clusters) is an error to report, not damage: it is left
// where it is, with its jobs, for the next host.
func TestTableNotMappedIsNotSetAside(t *testing.T) {
	if os.Getenv("BGJOB_TEST_LIMITED") == "1" {
		limitedOpen(t)
		return
	}
	dir := newHomeDir(t)
	h, err := Open(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	for range 40 {
		r := &store.Row{Job: api.Job{Name: "x", State: api.Completed}}
		if err := h.Store.Create(r, func(id uint64) []byte { r.ID = id; return make([]byte, 200<<10) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// In a process of its own: a limit on the address space is the whole
	// process's, and this one runs other tests.
	cmd := exec.Command(os.Args[0], "-test.run=^TestTableNotMappedIsNotSetAside$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BGJOB_TEST_LIMITED=1", "BGJOB_TEST_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the limited host: %v\n%s", err, out)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "jobs.db.corrupt-*")); len(aside) > 0 {
		t.Errorf("the table was set aside as damaged: %v\n%s", aside, out)
	}
	h, err = Open(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if rows, _, err := h.Store.All(); err != nil || len(rows) != 40 {
		t.Errorf("the table after the limited host: %d jobs (%v), want 40", len(rows), err)
	}
}

// limitedOpen opens $BGJOB_TEST_HOME with the address space limited to a
// little more than is in use, less than the table's map needs, and checks
// that it fails saying so.
func limitedOpen(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status to size the limit by")
	}
	var vm uint64
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmSize:" {
			vm, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	lim := syscall.Rlimit{Cur: vm<<10 + 4<<20, Max: vm<<10 + 4<<20}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		t.Skipf("cannot limit the address space: %v", err)
	}
	_, err = Open(os.Getenv("BGJOB_TEST_HOME"), false, hclog.NewNullLogger())
	if err == nil || !strings.Contains(err.Error(), "cannot open the job table") {
		t.Fatalf("Open with too little address space: %v; want it to fail saying it cannot open the table", err)
	}
}

// A host killed hard leaves its pid file; on a full disk the next host
// writes its pid over it, where the new file it makes beside it first has
// no room, and serves. Every command failed until the file was removed by
// hand.
func TestHostStartsOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a small tmpfs: needs root (CI runs as root)")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	dir := filepath.Join(mnt, "home")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	h, err := Open(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	// Killed hard: nothing closed, its pid file left (a pid of the same
	// length as ours, as a recycled one would be).
	h.Journal.Close()
	h.Store.Close()
	h.lock.Close()
	stale := strings.Repeat("9", len(strconv.Itoa(os.Getpid()))) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "host.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	fill, err := os.Create(filepath.Join(mnt, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = fill.Write(make([]byte, 64<<10))
	}
	for err == nil || !strings.Contains(err.Error(), "no space") {
		_, err = fill.Write(make([]byte, 1))
		if err == nil {
			continue
		}
	}
	fill.Close()
	h, err = Open(dir, false, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("a host on a full disk, a killed host's pid file left: %v", err)
	}
	defer h.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "host.pid")); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("host.pid on the full disk: %q, want this host's pid", b)
	}
}
