package jobs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

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
// hands it to a runtime, but for the last batch's, if it is small (see
// batchPayloads). Either is removed with the job.

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
	var job *sdk.Job
	if IsBatchChild(r) {
		// A batch's children share their parent's.
		shared, err := t.batchPayloads.get(r.Parent, func() (*sdk.Job, int, error) { return t.loadPayload(r.Parent, nil) })
		if err != nil {
			return nil, err
		}
		job = proto.CloneOf(shared)
		batchPayload(job, r)
	} else {
		var err error
		if job, _, err = t.loadPayload(r.ID, r.Spec); err != nil {
			return nil, err
		}
	}
	// The type is the payload's: a custom type's job run by its plugin
	// carries it; one whose definition runs in a runtime is a plain job
	// there, though the row shows its type.
	job.Id, job.InstanceId, job.Name = r.ID, r.InstanceID, r.Name
	job.Workdir, job.Command = r.Workdir, r.Command
	job.Attempt = uint32(r.Attempt)
	return job, nil
}

// loadPayload reads and decodes job id's payload, and says how many bytes
// it took; spec is the row's, for a job from before payloads (nil for a
// batch's parent, which has one).
func (t *Table) loadPayload(id uint64, spec *store.Spec) (*sdk.Job, int, error) {
	b, err := t.store.Payload(id)
	if err == nil && b == nil {
		b, err = readNoFollow(t.PayloadPath(id))
	}
	switch {
	case err == nil:
		job := new(sdk.Job)
		if err := proto.Unmarshal(b, job); err != nil {
			return nil, 0, fmt.Errorf("the job's payload %s is damaged: %w", t.PayloadPath(id), err)
		}
		sdk.DecodeJob(job)
		return job, len(b), nil
	case errors.Is(err, os.ErrNotExist) && spec != nil && spec.LegacyScript != "":
		s := spec
		return &sdk.Job{Script: s.LegacyScript, Init: s.LegacyInit, Args: s.LegacyArgs, Input: s.LegacyInput, Env: s.LegacyEnv}, 0, nil
	}
	return nil, 0, fmt.Errorf("the job's payload cannot be read: %w", err)
}

// payloadCache (the table's batchPayloads) keeps the last batch's payload,
// decoded, for its children: reading and decoding it again for each child
// was 5-6% of the host's CPU on a batch of trivial thread jobs, and a
// child's copy costs a fraction of that. A batch's payload never changes once written (edit and
// restart do not take batches), and ids are not reused, so the parent's id
// names it. Only a payload small enough for the table (MaxInlinePayload)
// is kept, so what this holds stays small.
type payloadCache struct {
	mu     sync.Mutex
	parent uint64
	job    *sdk.Job // never changed: each child gets a copy
}

// get is parent's payload, from load when it is not the one kept.
func (c *payloadCache) get(parent uint64, load func() (*sdk.Job, int, error)) (*sdk.Job, error) {
	c.mu.Lock()
	if c.job != nil && c.parent == parent {
		job := c.job
		c.mu.Unlock()
		return job, nil
	}
	c.mu.Unlock()
	job, size, err := load()
	if err != nil {
		return nil, err
	}
	if size <= MaxInlinePayload {
		c.mu.Lock()
		c.parent, c.job = parent, job
		c.mu.Unlock()
	}
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
