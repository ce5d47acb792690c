package host_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bgjob/bgjob/host"
	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// A job whose few records all come with its end keeps them in its row, not
// in a file: a batch's children printing a line each have no log file, and
// their records are received, whole and once, before and after the host
// restarts (the row's commit made them durable). A job printing more has
// its file, as before.
func TestRealFewRecordsKeptInTheRow(t *testing.T) {
	home := hosttest.Home(t)
	opts := host.Options{Runtimes: shell.Catalog}
	th := hosttest.Open(t, home, opts)
	items := []string{"a", "b", "c"}
	batch := th.Start(`echo "item $1"; echo "to stderr $1" >&2`, func(r *api.StartRequest) { r.ForEach = items })
	big := th.Start(`seq 1 2000`)
	th.Await(strconv.FormatUint(batch.ID, 10), strconv.FormatUint(big.ID, 10))
	logFile := func(id uint64) bool {
		_, err := os.Lstat(filepath.Join(home, "jobs", fmt.Sprintf("%d.log", id)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	kids := th.Job(strconv.FormatUint(batch.ID, 10)).ChildJobs
	if len(kids) != len(items) {
		t.Fatalf("the batch has %d children, want %d", len(kids), len(items))
	}
	for _, k := range kids {
		if logFile(k) {
			t.Errorf("child %d, which printed two lines, has a log file", k)
		}
	}
	if !logFile(big.ID) {
		t.Errorf("job %d, which printed 2000 lines, has no log file", big.ID)
	}
	receive := func(th *hosttest.Host, id uint64, o host.ReceiveOptions) []string {
		return th.Take([]string{strconv.FormatUint(id, 10)}, o).Texts()
	}
	want := func(item string) string { return fmt.Sprint([]string{"item " + item, "to stderr " + item}) }
	first := kids[0]
	if got := receive(th, first, host.ReceiveOptions{Keep: true}); fmt.Sprint(got) != want("a") {
		t.Errorf("child %d: received %q, want %s", first, got, want("a"))
	}

	th.Close()
	th = hosttest.Open(t, home, opts)
	for i, k := range kids {
		if got := receive(th, k, host.ReceiveOptions{}); fmt.Sprint(got) != want(items[i]) {
			t.Errorf("after a restart, child %d: received %q, want %s", k, got, want(items[i]))
		}
		if got := receive(th, k, host.ReceiveOptions{}); len(got) != 0 {
			t.Errorf("child %d received again: %q, want nothing", k, got)
		}
		if j := th.Job(strconv.FormatUint(k, 10)); j.HasMoreData {
			t.Errorf("child %d has more data after its records were received", k)
		}
	}
	if got := receive(th, big.ID, host.ReceiveOptions{}); len(got) != 2000 || got[1999] != "2000" {
		t.Errorf("job %d: received %d lines, want 2000", big.ID, len(got))
	}
}
