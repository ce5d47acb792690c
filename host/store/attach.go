package store

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/bgjob/bgjob/host/internal/atomicfile"
)

// AttachFile is the attach record's name in a job's socket directory.
//
// How to find a running job's runtime again goes beside the runtime's
// socket, not into the job table: a file in the page cache survives the
// host being killed as well, without the table's fsyncs on every job's
// start, and it goes away with the directory when the job ends.
const AttachFile = "attach.json"

// SaveAttach writes v (the launcher's attach record) into dir.
func SaveAttach(dir string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, AttachFile), b, 0o600)
}

// LoadAttach reads the attach record in dir into v; an error wrapping
// os.ErrNotExist means there is none.
func LoadAttach(dir string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, AttachFile))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
