package store

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// AttachFile is where a host before the journal kept a job's attach record:
// in the job's socket directory. Such records are still read, for jobs an
// older host started.
const AttachFile = "attach.json"

const kindAttach = 'a'

// SaveAttach records v (the launcher's attach record: how to find a
// running job's runtime again) for job id. It goes into the journal, not
// the job table: it must be there before the runtime gets the job, and it
// must survive the host being killed, which the page cache does without
// the table's syncs on every job's start.
func (j *Journal) SaveAttach(id uint64, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return j.Put(kindAttach, id, b)
}

// LoadAttach reads job id's attach record into v: the journal's, else one
// an older host left in legacyDir. An error wrapping os.ErrNotExist means
// there is none.
func (j *Journal) LoadAttach(id uint64, legacyDir string, v any) error {
	if b, ok := j.Get(kindAttach, id); ok {
		return json.Unmarshal(b, v)
	}
	b, err := os.ReadFile(filepath.Join(legacyDir, AttachFile))
	if err != nil {
		return err
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
