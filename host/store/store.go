// Package store keeps what the host must not lose: the job table (one bbolt
// file under the host's home, a row per job) and the attach records, small
// files beside each running job's runtime socket that say how to find that
// runtime again after the host was killed.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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

// Row is what the store keeps per job: the visible job and what the host
// needs to run, resume and read it.
type Row struct {
	api.Job
	Spec *Spec `json:"spec"`
	// LastSeq and LogSize describe the record log as persisted; while the
	// job runs they are kept in memory and recovered from the log itself.
	LastSeq uint64 `json:"lastSeq"`
	LogSize int64  `json:"logSize"`
	// ReadOffset is where the next draining receive starts.
	ReadOffset int64 `json:"readOffset"`
}

// Spec is the job as its runtime receives it, and which runtime that is.
type Spec struct {
	Script  string   `json:"script"`
	Init    string   `json:"init,omitempty"`
	Args    []string `json:"args,omitempty"`
	Input   []byte   `json:"input,omitempty"`
	Env     []string `json:"env,omitempty"`
	Runtime string   `json:"runtimePath"`
	SHA256  string   `json:"sha256"`
}

// Store is the job table. bbolt's file lock also keeps a second host off
// the same home.
type Store struct {
	db *bolt.DB
}

// ErrLocked says another host holds the store.
var ErrLocked = errors.New("the job table is in use by another host")

// Open opens (creating if needed) the job table at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, ErrLocked
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
	return &Store{db: db}, nil
}

// Close closes the table.
func (s *Store) Close() error { return s.db.Close() }

func idKey(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

// Create assigns the next id (ids are never reused), lets prepare fill in
// what depends on it, and stores r under it, in one transaction.
func (s *Store) Create(r *Row, prepare func(id uint64)) error {
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

func putRow(tx *bolt.Tx, r *Row) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketJobs).Put(idKey(r.ID), b)
}

// Put writes rows, in one transaction.
func (s *Store) Put(rows ...*Row) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range rows {
			if err := putRow(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete removes job id's row.
func (s *Store) Delete(id uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).Delete(idKey(id))
	})
}

// All returns every stored row in id order.
func (s *Store) All() ([]*Row, error) {
	var rows []*Row
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			r := new(Row)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("job %d: %w", binary.BigEndian.Uint64(k), err)
			}
			rows = append(rows, r)
			return nil
		})
	})
	return rows, err
}
