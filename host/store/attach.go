package store

import (
	"encoding/json"
	"fmt"
	"os"
)

const kindAttach = 'a'

// SaveAttach records v (the launcher's attach record: how to find a
// running job's runtime again) for job id. It goes into the journal, not
// the job table: it must be there before the runtime gets the job, and it
// must survive the host being killed, which the page cache does without
// the table's syncs on every job's start.
func (j *Journal) SaveAttach(id uint64, v any) error { return j.putJSON(kindAttach, id, v) }

// putJSON records v, as JSON, as the value of (kind, id).
func (j *Journal) putJSON(kind byte, id uint64, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return j.Put(kind, id, b)
}

// LoadAttach reads job id's attach record into v. An error wrapping
// os.ErrNotExist means there is none. Only the journal is read: hosts
// before it kept the record in the job's socket directory, which belongs
// to the job's user, and nothing the host trusts is read from there.
func (j *Journal) LoadAttach(id uint64, v any) error {
	b, ok := j.Get(kindAttach, id)
	if !ok {
		return fmt.Errorf("no attach record for job %d: %w", id, os.ErrNotExist)
	}
	return json.Unmarshal(b, v)
}

// DropAttach forgets job id's attach record, once the job is over.
func (j *Journal) DropAttach(id uint64) { _ = j.Put(kindAttach, id, nil) }

// Attached lists the jobs with an attach record in the journal.
func (j *Journal) Attached() []uint64 {
	var ids []uint64
	for id := range j.All(kindAttach) {
		ids = append(ids, id)
	}
	return ids
}
