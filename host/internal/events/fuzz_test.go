//go:build unix

package events

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

// FuzzLog opens an event log of any bytes (what a crash, a full disk or a
// power loss left), records an event whose hooks are due, and opens it
// again: the event reads back, numbered after every event read before, and
// its hooks are still due.
func FuzzLog(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("{\"Seq\":1,\"JobID\":1,\"To\":\"Running\",\"Owner\":0}\n"))
	f.Add([]byte("{\"Seq\":1,\"JobID\":1,\"To\":\"Running\",\"Owner\":0}\n{\"Seq\":2,\"Jo"))
	f.Add([]byte("{\"Seq\":7,\"JobID\":3,\"To\":\"Completed\",\"Owner\":0,\"Hook\":{\"Commands\":[\"true\"],\"Dir\":\"/\"}}\n\x00\x00\x00"))
	f.Add([]byte("{\"Ran\":7}\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "events.log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l := open(t, path, 100)
		before := l.Seq()
		l.append(Record{Event: api.Event{JobID: 1 << 40, To: api.Completed}, Hook: &Hook{Commands: []string{"true"}}})
		seq := l.Seq()
		if seq != before+1 {
			t.Fatalf("the new event is %d, after %d", seq, before)
		}
		kill(l)

		l2 := open(t, path, 100)
		if l2.Seq() != seq {
			t.Fatalf("reopened, the newest event is %d, want %d (the one written last)", l2.Seq(), seq)
		}
		if !slices.Contains(l2.queue, seq) {
			t.Fatalf("reopened, the hooks due are %v: the new event's (%d) are not among them", l2.queue, seq)
		}
	})
}
