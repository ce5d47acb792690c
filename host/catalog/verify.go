package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/bgjob/bgjob/host/internal/safepath"
)

// verifiedFile remembers that the file identified by id hashed to sum.
type verifiedFile struct {
	id  fileID
	sum string
}

// VerifyResult is the outcome of verifying one entry: Err is nil when the
// binary matches its manifest.
type VerifyResult struct {
	Entry *Entry
	Err   error
}

// OK reports whether the entry verified.
func (r VerifyResult) OK() bool { return r.Err == nil }

// Verify checks that the entry's binary still has the SHA-256 recorded when
// it was installed, so that the host never launches a binary that was
// swapped or corrupted after install. A mismatch wraps ErrTampered.
//
// The host verifies before every launch, and hashing a large binary each
// time would add noticeable latency, so a successful result is cached per
// path together with the file's device, inode, size, mtime and ctime (on
// Unix; elsewhere nothing is cached). Any write, replacement or chmod of the
// binary changes one of those and forces a fresh hash.
func (c *Catalog) Verify(e *Entry) error {
	f, err := c.OpenVerified(e)
	if err != nil {
		return err
	}
	return f.Close()
}

// Unchanged is Verify for a caller that runs nothing on its strength: the
// host's job runner, before it hands a job to a runtime process. When the
// file at e's path is the very one (device, inode, size, times) that a full
// verification last passed with e's hash, one stat answers, and the folders
// above it are not walked again; otherwise it is Verify.
//
// That is safe because nothing is executed on this answer. A process
// already running was started from a checked file, and what is at the path
// now cannot change what it runs; a process started for the job is started
// from OpenVerified, which walks the folders every time. What it saves is
// a walk up the path for every job a reused process runs: a seventh of the
// host's CPU (perf) for a batch's thread children.
func (c *Catalog) Unchanged(e *Entry) error {
	if e != nil && e.Refused == nil {
		if fi, err := os.Stat(e.Path); err == nil && fi.Mode().IsRegular() {
			if id, ok := statID(fi); ok && id.settled(e.Path) && c.cached(e.Path, id, e.SHA256) {
				return nil
			}
		}
	}
	return c.Verify(e)
}

// OpenVerified opens the entry's binary and checks it, as opened, against
// the SHA-256 recorded at install. Running the returned file (on Linux as
// /proc/self/fd/N) runs exactly the bytes that were checked: a binary
// swapped between the check and the exec is never what runs. The caller
// closes the file.
//
// The binary, and every folder above it, must be such that no one but root
// and the host's user could have changed it (see trust.go); otherwise the
// error wraps ErrUnsafe. It is checked on every call, not cached: a chmod of
// a folder changes nothing the cache looks at.
func (c *Catalog) OpenVerified(e *Entry) (*os.File, error) { return c.openVerified(e, false) }

// openVerified is OpenVerified; checked says e's binary and the folders
// above it were found safe just now (ResolveOpen), and are not walked
// again.
func (c *Catalog) openVerified(e *Entry, checked bool) (*os.File, error) {
	if e == nil {
		return nil, errors.New("catalog: OpenVerified called with a nil entry")
	}
	if e.Refused != nil {
		return nil, e.Refused
	}
	if !checked {
		if err := c.checkTrusted(e.Path); err != nil {
			c.forget(e.Path)
			if errors.Is(err, ErrUnsafe) {
				return nil, fmt.Errorf("%s: %w", e, err)
			}
			return nil, missingBinary(e, err)
		}
	}
	f, err := os.Open(e.Path)
	if err != nil {
		c.forget(e.Path)
		return nil, missingBinary(e, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, missingBinary(e, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, missingBinary(e, fmt.Errorf("it is %s, not a regular file", safepath.Kind(fi.Mode())))
	}
	// The file as opened, which is what runs: its folders were checked
	// above, so no one else could have put another in its place since.
	if err := c.unsafe(safepath.Check(e.Path, fi, false)); err != nil {
		f.Close()
		c.forget(e.Path)
		return nil, fmt.Errorf("%s: %w", e, err)
	}
	id, cacheable := statID(fi)
	cacheable = cacheable && id.settled(e.Path)
	if cacheable && c.cached(e.Path, id, e.SHA256) {
		return f, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		f.Close()
		c.forget(e.Path)
		return nil, missingBinary(e, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, e.SHA256) {
		f.Close()
		c.forget(e.Path)
		return nil, fmt.Errorf("%s at %s %w (recorded %s, now %s); reinstall it with 'bgjob runtime install'", e, e.Path, ErrTampered, short(e.SHA256), short(sum))
	}
	if cacheable {
		c.mu.Lock()
		c.verified[e.Path] = verifiedFile{id: id, sum: strings.ToLower(e.SHA256)}
		c.mu.Unlock()
	}
	return f, nil
}

// VerifyAll verifies every installed entry, for 'bgjob runtime verify'. The
// error is only for failing to list the catalog; per-entry problems are in
// the results, in List order.
func (c *Catalog) VerifyAll() ([]VerifyResult, error) {
	entries, err := c.List()
	if err != nil {
		return nil, err
	}
	results := make([]VerifyResult, len(entries))
	for i, e := range entries {
		results[i] = VerifyResult{Entry: e, Err: c.Verify(e)} // a refused entry's refusal
	}
	return results, nil
}

// cached reports whether path was verified as sum while it had identity id.
// The recorded sum is part of the check so that a reinstall (a new
// manifest) is never answered from a verification of the old one.
func (c *Catalog) cached(path string, id fileID, sum string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.verified[path]
	return ok && v.id == id && v.sum == strings.ToLower(sum)
}

// forget drops any cached verification of path.
func (c *Catalog) forget(path string) {
	c.mu.Lock()
	delete(c.verified, path)
	c.mu.Unlock()
}

// missingBinary words a failure to read an entry's binary.
func missingBinary(e *Entry, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is missing its binary %s: %w; reinstall it with 'bgjob runtime install'", e, e.Path, err)
	}
	return fmt.Errorf("cannot check %s at %s: %w; check the file's permissions or reinstall it with 'bgjob runtime install'", e, e.Path, err)
}

// short abbreviates a hex digest for messages; the full values are in the
// manifest and in sha256sum's output for anyone who needs them.
func short(sum string) string {
	const n = 12
	if len(sum) <= n {
		if sum == "" {
			return "nothing"
		}
		return sum
	}
	return sum[:n] + "…"
}
