package jobs

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/store"
)

// Only a start --wait's job that has ended leaves a tomb; tombs older
// than tombTTL, and the oldest past maxTombs, go.
func TestTombs(t *testing.T) {
	now := time.Now()
	tb := &Table{}
	for _, tc := range []struct {
		name string
		row  store.Row
		want bool
	}{
		{"start --wait, ended", store.Row{Job: api.Job{InstanceID: "i", State: api.Completed}, Foreground: true}, true},
		{"start --wait, never ran (an undone submission)", store.Row{Job: api.Job{InstanceID: "i", State: api.NotStarted}, Foreground: true}, false},
		{"a background job", store.Row{Job: api.Job{InstanceID: "i", State: api.Completed}}, false},
	} {
		if _, got := tb.buryLocked(&Job{Row: tc.row}, now); got != tc.want {
			t.Errorf("%s: a tomb %v, want %v", tc.name, got, tc.want)
		}
	}

	var ts tombs
	at := func(ago time.Duration, i int) tomb {
		return tomb{id: uint64(i), Tomb: store.Tomb{Instance: fmt.Sprint(i), At: now.Add(-ago)}}
	}
	if stale := ts.add("old", at(tombTTL+time.Second, 1), now); len(stale) != 1 || stale[0] != 1 {
		t.Errorf("a tomb older than tombTTL was kept (stale %v)", stale)
	}
	var dropped []uint64
	for i := 2; i < maxTombs+12; i++ {
		dropped = append(dropped, ts.add(fmt.Sprint(i), at(0, i), now)...)
	}
	if len(ts.byKey) != maxTombs || len(dropped) != 10 || dropped[0] != 2 {
		t.Errorf("after %d tombs: %d kept, dropped %v; want %d kept, the 10 oldest dropped", maxTombs+10, len(ts.byKey), dropped, maxTombs)
	}
	if _, ok := ts.find("2", now); ok {
		t.Error("the oldest tomb past maxTombs is still found")
	}
	if _, ok := ts.find(fmt.Sprint(maxTombs+11), now); !ok {
		t.Error("the newest tomb is not found")
	}
}

// A host that starts takes the tombs back from the journal, which holds
// them in no order, and keeps the newest maxTombs.
func TestLoadTombsKeepsTheNewest(t *testing.T) {
	j, err := store.OpenJournal(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	now := time.Now()
	n := maxTombs + 5
	for i := range n {
		// Tomb i is i ms old: ids and ages in opposite orders.
		if err := j.SaveTomb(uint64(i), store.Tomb{Instance: fmt.Sprint(i), At: now.Add(-time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	tb := &Table{journal: j}
	tb.LoadTombs()
	for i := range n {
		_, found := tb.tombs.find(instanceKey(fmt.Sprint(i)), time.Now())
		if want := i < maxTombs; found != want {
			t.Errorf("tomb %d (%d ms old): found %v, want %v (the newest %d kept)", i, i, found, want, maxTombs)
		}
	}
	if got := len(j.Tombs()); got != maxTombs {
		t.Errorf("the journal holds %d tombs, want %d", got, maxTombs)
	}
}
