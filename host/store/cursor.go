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

// Cursors keeps live jobs' cursors in the host's journal (kind 'c').
// Hosts before the journal kept one file per job in a directory; those are
// read once, at start, and the directory removed.
type Cursors struct {
	j         *Journal
	legacyDir string
}

const kindCursor = 'c'

// OpenCursors keeps cursors in j; legacyDir is where an older host kept
// them.
func OpenCursors(j *Journal, legacyDir string) *Cursors {
	return &Cursors{j: j, legacyDir: legacyDir}
}

// Set writes job id's cursor.
func (c *Cursors) Set(id uint64, cur Cursor) error {
	var b [cursorSize]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(cur.LogSize))
	binary.LittleEndian.PutUint64(b[8:], cur.LastSeq)
	binary.LittleEndian.PutUint64(b[16:], uint64(cur.ReadOffset))
	binary.LittleEndian.PutUint32(b[24:], crc32.ChecksumIEEE(b[:24]))
	if err := c.j.Put(kindCursor, id, b[:]); err != nil {
		return fmt.Errorf("cannot record where job %d's records stand: %w", id, err)
	}
	return nil
}

// Drop removes job id's cursor, once its row says as much.
func (c *Cursors) Drop(id uint64) {
	_ = c.j.Put(kindCursor, id, nil)
}

// All returns every cursor left, by job id, with those an older host left
// in its directory (the journal's win), which is then removed. A cursor
// that does not check out is left out: the row and the log alone are then
// the truth.
func (c *Cursors) All() (map[uint64]Cursor, error) {
	out := map[uint64]Cursor{}
	if c.legacyDir != "" {
		legacy, err := legacyCursors(c.legacyDir)
		if err != nil {
			return nil, err
		}
		for id, cur := range legacy {
			out[id] = cur
			_ = c.Set(id, cur)
		}
		os.RemoveAll(c.legacyDir)
	}
	for id, b := range c.j.All(kindCursor) {
		if cur, ok := decodeCursor(b); ok {
			out[id] = cur
		}
	}
	return out, nil
}

func decodeCursor(b []byte) (Cursor, bool) {
	if len(b) != cursorSize || crc32.ChecksumIEEE(b[:24]) != binary.LittleEndian.Uint32(b[24:]) {
		return Cursor{}, false
	}
	return Cursor{
		LogSize:    int64(binary.LittleEndian.Uint64(b[0:])),
		LastSeq:    binary.LittleEndian.Uint64(b[8:]),
		ReadOffset: int64(binary.LittleEndian.Uint64(b[16:])),
	}, true
}

// legacyCursors reads the cursor files an older host kept in dir.
func legacyCursors(dir string) (map[uint64]Cursor, error) {
	ents, err := os.ReadDir(dir)
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
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if cur, ok := decodeCursor(b); ok {
			out[id] = cur
		}
	}
	return out, nil
}
