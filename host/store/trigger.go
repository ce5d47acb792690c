package store

import (
	"encoding/json"
	"time"
)

// Trigger is what the host keeps about one stored definition's schedule,
// across host restarts.
type Trigger struct {
	// Since is when the host last fired the definition, or first saw it:
	// a fire time after Since that passed while no host ran is a missed
	// run (made up once if the definition asks for it).
	Since time.Time `json:"since"`
	// Enabled, if set, is `bgjob definition enable/disable`, which
	// overrides what the definition's file says.
	Enabled *bool `json:"enabled,omitempty"`
	// FileEnabled is what the definition's file said when the host last
	// read it (and so when Enabled was set): a file whose enabled changed
	// since is the newer word, and an override is dropped; a file that
	// turned the definition on moves Since to the edit. Unset in states
	// kept before it was.
	FileEnabled *bool `json:"file_enabled,omitempty"`
}

// Trigger returns the state kept for key ("TYPE/NAME"), if any.
func (s *Store) Trigger(key string) (Trigger, bool, error) {
	var t Trigger
	found := false
	v, err := s.get(bTriggers, []byte(key))
	if err == nil && v != nil {
		found = true
		err = json.Unmarshal(v, &t)
	}
	return t, found, err
}

// PutTrigger keeps t for key.
func (s *Store) PutTrigger(key string, t Trigger) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.update(func(tx *wtx) error {
		tx.put(bTriggers, []byte(key), b)
		return nil
	})
}
