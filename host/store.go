package host

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/host/api"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketJobs = []byte("jobs")
	bucketMeta = []byte("meta")
	keyNextID  = []byte("nextID")
)

// row is what the store keeps per job: the visible job and what the host
// needs to run, resume and read it.
type row struct {
	api.Job
	Spec *spec `json:"spec"`
	// LastSeq and LogSize describe the record log as persisted; while the
	// job runs they are kept in memory and recovered from the log itself.
	LastSeq uint64 `json:"lastSeq"`
	LogSize int64  `json:"logSize"`
	// ReadOffset is where the next draining receive starts.
	ReadOffset int64 `json:"readOffset"`
}

// spec is the job as the runtime receives it.
type spec struct {
	Script  string   `json:"script"`
	Init    string   `json:"init,omitempty"`
	Args    []string `json:"args,omitempty"`
	Input   []byte   `json:"input,omitempty"`
	Env     []string `json:"env,omitempty"`
	Runtime string   `json:"runtimePath"`
	SHA256  string   `json:"sha256"`
}

// reattach is go-plugin's ReattachConfig in a form that survives JSON, plus
// the negotiated protocol, which ReattachConfig does not carry reliably. It
// is kept in attach.json in the job's socket directory while the job runs.
type reattach struct {
	Network  string `json:"network"`
	Addr     string `json:"addr"`
	Pid      int    `json:"pid"`
	Protocol int    `json:"protocol"`
	SockDir  string `json:"sockDir"`
	// Begin is the job's PSBeginTime, which the job table learns only
	// when the job ends.
	Begin *time.Time `json:"begin,omitempty"`
}

// store is the durable job table: one bbolt file under the host's home.
// bbolt's file lock also keeps a second host off the same home.
type store struct {
	db *bolt.DB
}

// errLocked says another host holds the store.
var errLocked = errors.New("locked")

func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("cannot open the job table %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot prepare the job table %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

func idKey(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

// create assigns the next id (ids are never reused) and stores r under it.
func (s *store) create(r *row, prepare func(id uint64)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var id uint64 = 1
		if v := meta.Get(keyNextID); v != nil {
			id = binary.BigEndian.Uint64(v)
		}
		if err := meta.Put(keyNextID, idKey(id+1)); err != nil {
			return err
		}
		prepare(id)
		return putRow(tx, r)
	})
}

func putRow(tx *bolt.Tx, r *row) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketJobs).Put(idKey(r.ID), b)
}

func (s *store) put(rows ...*row) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range rows {
			if err := putRow(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *store) delete(id uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).Delete(idKey(id))
	})
}

// all returns every stored row in id order.
func (s *store) all() ([]*row, error) {
	var rows []*row
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			r := new(row)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("job %d: %w", binary.BigEndian.Uint64(k), err)
			}
			rows = append(rows, r)
			return nil
		})
	})
	return rows, err
}

const attachFile = "attach.json"

func writeAttach(dir string, r *reattach) error {
	if r == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, attachFile+".tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, attachFile))
}

// readAttach returns the reattach record in dir, or nil if there is none.
func readAttach(dir string) (*reattach, error) {
	b, err := os.ReadFile(filepath.Join(dir, attachFile))
	if err != nil {
		return nil, err
	}
	r := new(reattach)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, err
	}
	return r, nil
}
