//go:build unix

package integration

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdOverlap (overlap FILE N) checks, from the JSON of `bgjob get -o json`
// in FILE, that the jobs with an Item (a batch's children, start
// --foreach) that ran were at most N at once by their begin and end times,
// and that N were at once at some moment: a throttle limit that held and
// was used.
func cmdOverlap(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: overlap FILE N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var jobs []struct {
		Id                     uint64
		Item                   string
		PSBeginTime, PSEndTime *time.Time
	}
	ts.Check(json.Unmarshal(b, &jobs))
	type edge struct {
		at    time.Time
		delta int // +1 a begin, -1 an end
	}
	var edges []edge
	for _, j := range jobs {
		if j.Item == "" || j.PSBeginTime == nil {
			continue
		}
		if j.PSEndTime == nil {
			ts.Fatalf("job %d has begun and not ended", j.Id)
		}
		edges = append(edges, edge{*j.PSBeginTime, 1}, edge{*j.PSEndTime, -1})
	}
	// Ends before begins at the same instant: [begin, end) intervals.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	now, most := 0, 0
	for _, e := range edges {
		now += e.delta
		most = max(most, now)
	}
	if most != want {
		ts.Fatalf("at most %d child jobs ran at once; want %d", most, want)
	}
}
