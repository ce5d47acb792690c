package store

import (
	"encoding/json"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

const kindTomb = 't'

// Tomb is what the host keeps, for a little while, of a job removed soon
// after it was made: a start --wait's job, which its caller removes when
// it has received all of it. When the host is killed just after that
// removal, the caller, its answer lost, sends the start again with the
// same instance id; without the tomb the new host would find no job of
// that id and run it a second time. It is a journal record, not a row:
// it must survive the host being killed, which the page cache does, and
// after a power loss its caller is gone too.
type Tomb struct {
	Instance string    `json:"instance"`
	Owner    uint32    `json:"owner"`
	At       time.Time `json:"at"`  // when the job was removed
	Job      api.Job   `json:"job"` // its last row, for the answer
}

// SaveTomb records the tomb of job id.
func (j *Journal) SaveTomb(id uint64, t Tomb) error { return j.putJSON(kindTomb, id, t) }

// DropTomb forgets job id's tomb.
func (j *Journal) DropTomb(id uint64) { _ = j.Put(kindTomb, id, nil) }

// Tombs returns the tombs in the journal, by job id; one that cannot be
// read is left out (and dropped).
func (j *Journal) Tombs() map[uint64]Tomb {
	out := map[uint64]Tomb{}
	for id, b := range j.All(kindTomb) {
		var t Tomb
		if json.Unmarshal(b, &t) != nil {
			j.DropTomb(id)
			continue
		}
		out[id] = t
	}
	return out
}
