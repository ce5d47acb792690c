package recordlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/bgjob/bgjob/host/internal/safepath"
)

// Writer appends batches of framed records to one log.
type Writer struct {
	path string
	mu   sync.Mutex
	f    *os.File
	size int64 // bytes of whole records
}

// Open opens (creating if needed) the log at path for appending after its
// first size bytes; anything after them (a torn tail that Scan left out) is
// cut.
func Open(path string, size int64) (*Writer, error) {
	// Never through a link: cutting the torn tail would cut its target
	// (the system host writes as root).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|safepath.NoFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the record log: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot cut the torn tail of the record log %s: %w", path, err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{path: path, f: f, size: size}, nil
}

// Append writes b, whole framed records.
func (w *Writer) Append(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("the record log is closed")
	}
	if _, err := w.f.Write(b); err != nil {
		// Keep the file and size in step: cut what was partly written.
		_ = w.f.Truncate(w.size)
		_, _ = w.f.Seek(w.size, io.SeekStart)
		return fmt.Errorf("cannot write the record log %s: %w", w.path, err)
	}
	w.size += int64(len(b))
	return nil
}

// Size is where the whole records end.
func (w *Writer) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Close syncs and closes the log; reading goes on through Read. Closing
// twice is not an error.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// Sync makes what was appended durable (a Slurm task syncs each batch
// before the runtime may forget it: the host's page cache is not there to
// keep it).
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("the record log is closed")
	}
	return w.f.Sync()
}
