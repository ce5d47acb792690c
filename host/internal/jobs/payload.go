package jobs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bgjob/bgjob/host/internal/safepath"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// A job's payload (script, init script, arguments, input, environment) is
// the bytes of the sdk.Job the runtime receives. A small one (most: a
// command line and an environment) is kept in the job table beside the
// row, written in the row's own transaction, so a start creates no file
// (creating one costs more than the rest of a start on some disks). A large
// one goes to jobs/ID.job instead, so that the table does not grow with
// what jobs were given; the host holds a payload in memory only while it
// hands it to a runtime. Either is removed with the job.

// MaxInlinePayload is the largest payload kept in the table.
const MaxInlinePayload = 256 << 10

func (t *Table) PayloadPath(id uint64) string {
	return filepath.Join(t.JobsDir(), strconv.FormatUint(id, 10)+".job")
}

// writePayload stores a large payload in its file. It is written before
// the job is queued and not synced: a host that is killed keeps it (the
// page cache does), and a job whose payload was lost fails with that
// reason.
func (t *Table) WritePayload(id uint64, b []byte) error {
	path := t.PayloadPath(id)
	tmp := path + ".tmp"
	// Not through a link at tmp; the rename then replaces whatever is at
	// path, a link included, without following it.
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|safepath.NoFollow, 0o600)
	if err == nil {
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot record the job's payload: %w", err)
	}
	return os.Rename(tmp, path)
}

// payload is the job as its runtime receives it: its payload, and what the
// row says about it.
func (t *Table) Payload(r *store.Row) (*sdk.Job, error) {
	job := new(sdk.Job)
	id := r.ID
	if IsBatchChild(r) {
		id = r.Parent // a batch's children share its parent's
	}
	b, err := t.store.Payload(id)
	if err == nil && b == nil {
		b, err = readNoFollow(t.PayloadPath(id))
	}
	switch {
	case err == nil:
		if err := proto.Unmarshal(b, job); err != nil {
			return nil, fmt.Errorf("the job's payload %s is damaged: %w", t.PayloadPath(id), err)
		}
		sdk.DecodeJob(job)
		if IsBatchChild(r) {
			batchPayload(job, r)
		}
	case errors.Is(err, os.ErrNotExist) && r.Spec != nil && r.Spec.LegacyScript != "":
		s := r.Spec
		job = &sdk.Job{Script: s.LegacyScript, Init: s.LegacyInit, Args: s.LegacyArgs, Input: s.LegacyInput, Env: s.LegacyEnv}
	default:
		return nil, fmt.Errorf("the job's payload cannot be read: %w", err)
	}
	// The type is the payload's: a custom type's job run by its plugin
	// carries it; one whose definition runs in a runtime is a plain job
	// there, though the row shows its type.
	job.Id, job.InstanceId, job.Name = r.ID, r.InstanceID, r.Name
	job.Workdir, job.Command = r.Workdir, r.Command
	return job, nil
}

// readNoFollow is os.ReadFile, but not through a final symbolic link.
func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|safepath.NoFollow, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
