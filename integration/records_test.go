package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// sevenStreams checks the JSON lines a `receive -o json --verbose --debug`
// printed for one job at a location (where names it): every record is job
// id's, each of the seven streams came back, and the sequence numbers run
// on without a gap or a repeat. It returns the lines.
func sevenStreams(t *testing.T, where, out string, id uint64) []string {
	t.Helper()
	var streams, lines []string
	var seqs []uint64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			JobID  uint64 `json:"jobId"`
			Seq    uint64 `json:"seq"`
			Stream string `json:"stream"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: receive -o json line %q: %v", where, line, err)
		}
		if r.JobID != id {
			t.Errorf("%s: a record of job %d, want %d's: %s", where, r.JobID, id, line)
		}
		streams, seqs, lines = append(streams, r.Stream), append(seqs, r.Seq), append(lines, line)
	}
	for _, s := range []string{"output", "error", "warning", "verbose", "debug", "information", "progress"} {
		if !slices.Contains(streams, s) {
			t.Errorf("%s: no %s record came back: %q", where, s, streams)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Errorf("%s: records out of order or repeated: %v", where, seqs)
			break
		}
	}
	return lines
}
