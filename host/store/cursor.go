package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Cursor is where a live job's records stand, kept between writes of its
// row: how far its record log holds whole records, how far a draining
// receive has delivered them (from the log, or straight from the relay),
// and the last sequence number the host has. The relay and receive update
// it as they go, with one small write and no sync: it survives the host
// being killed (the page cache keeps it), so a recovering host neither
// rereads a whole log to find its end nor sends a caller records it had
// already delivered.
type Cursor struct {
	LogSize    int64  // the log's whole records end here
	LastSeq    uint64 // the last sequence number the host holds (logged or delivered)
	ReadOffset int64  // a draining receive has delivered the log up to here
}

const cursorSize = 8 + 8 + 8 + 4 // three fields and a CRC-32

// Cursors is the directory of live jobs' cursors: only jobs whose cursor
// says more than their row have a file there, so a host with many finished
// jobs reads few of them at start.
type Cursors struct {
	dir string
	mu  sync.Mutex
	fs  map[uint64]*os.File
}

// OpenCursors opens (creating if needed) the cursor directory dir.
func OpenCursors(dir string) (*Cursors, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Cursors{dir: dir, fs: map[uint64]*os.File{}}, nil
}

func (c *Cursors) path(id uint64) string {
	return filepath.Join(c.dir, strconv.FormatUint(id, 10))
}

// Set writes job id's cursor.
func (c *Cursors) Set(id uint64, cur Cursor) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fs[id]
	if f == nil {
		var err error
		if f, err = os.OpenFile(c.path(id), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return fmt.Errorf("cannot record where job %d's records stand: %w", id, err)
		}
		c.fs[id] = f
	}
	var b [cursorSize]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(cur.LogSize))
	binary.LittleEndian.PutUint64(b[8:], cur.LastSeq)
	binary.LittleEndian.PutUint64(b[16:], uint64(cur.ReadOffset))
	binary.LittleEndian.PutUint32(b[24:], crc32.ChecksumIEEE(b[:24]))
	_, err := f.WriteAt(b[:], 0)
	return err
}

// Drop removes job id's cursor, once its row says as much.
func (c *Cursors) Drop(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.fs[id]; f != nil {
		f.Close()
		delete(c.fs, id)
	}
	os.Remove(c.path(id))
}

// All reads every cursor left, by job id. A cursor that does not check out
// (torn by a power loss) is left out: the row and the log alone are then
// the truth.
func (c *Cursors) All() (map[uint64]Cursor, error) {
	ents, err := os.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[uint64]Cursor{}
	for _, e := range ents {
		id, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.dir, e.Name()))
		if err != nil || len(b) != cursorSize || crc32.ChecksumIEEE(b[:24]) != binary.LittleEndian.Uint32(b[24:]) {
			continue
		}
		out[id] = Cursor{
			LogSize:    int64(binary.LittleEndian.Uint64(b[0:])),
			LastSeq:    binary.LittleEndian.Uint64(b[8:]),
			ReadOffset: int64(binary.LittleEndian.Uint64(b[16:])),
		}
	}
	return out, nil
}

// Close closes the open cursor files.
func (c *Cursors) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, f := range c.fs {
		f.Close()
		delete(c.fs, id)
	}
}
