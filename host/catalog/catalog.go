// Package catalog keeps the versioned plugin executables ("runtimes") that
// bgjob runs jobs in.
//
// The layout follows Terraform and Packer so that it is easy to inspect and
// to clean up by hand:
//
//	<root>/<name>/<version>/<os>_<arch>/<binary>
//	<root>/<name>/<version>/<os>_<arch>/manifest.json
//
// The manifest records what the binary said about itself when it was
// installed, plus its SHA-256, so that the host can refuse to launch a binary
// that changed since (see [Catalog.Verify]) and can pick a version without
// executing anything (see [Catalog.Resolve]).
//
// The CLI does not link it: `bgjob runtime ...` hands over to bgjobd, so
// hashing and semver cost the CLI nothing.
package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/bgjob/bgjob/sdk"
)

// manifestFile is the name of the manifest next to each installed binary.
// Folders without it are ignored, which lets an interrupted install or a
// hand-made folder coexist with the catalog without breaking it.
const manifestFile = "manifest.json"

// Sentinel errors, for callers that need to react to a class of failure
// (for example the CLI choosing an exit code) rather than to its wording.
// Their text is part of the sentences the package returns, so they read
// naturally on their own and inside those messages.
var (
	// ErrBadConstraint reports a version constraint that semver cannot parse.
	ErrBadConstraint = errors.New("invalid runtime version constraint")
	// ErrNoRuntime reports that no installed runtime satisfies a request.
	ErrNoRuntime = errors.New("no runtime")
	// ErrTampered reports a binary whose content no longer matches the
	// SHA-256 recorded when it was installed.
	ErrTampered = errors.New("does not match its recorded SHA-256")
	// ErrNotPlugin reports a file that cannot be installed because it does
	// not behave like a bgjob plugin.
	ErrNotPlugin = errors.New("not a bgjob plugin")
	// ErrUnsafe reports a catalog file or folder that someone other than
	// root and the host's user could change (see trust.go).
	ErrUnsafe = errors.New("unsafe runtime catalog")
	// ErrInstalled reports an install of a binary other than the one
	// installed for the same name, version and platform, without
	// InstallOptions.Replace.
	ErrInstalled = errors.New("is already installed from another binary")
)

// Manifest is what manifest.json holds: the plugin's own description of
// itself, captured at install time by running "<binary> describe", plus where
// the binary is and what it hashed to.
type Manifest struct {
	sdk.Description
	Binary string `json:"binary"` // file name inside the folder
	SHA256 string `json:"sha256"` // lowercase hex
}

// Entry is one installed plugin: its manifest plus the absolute locations
// and the parsed version, so callers never have to rebuild paths or re-parse.
//
// Its JSON form (for 'bgjob runtime list -o json') is the manifest's fields
// plus dir and path.
type Entry struct {
	Manifest
	// Dir is the absolute folder holding the binary and manifest.json.
	Dir string `json:"dir"`
	// Path is the absolute path of the binary, the one to execute.
	Path string `json:"path"`
	// SemVer is Manifest.Version parsed. It is not called Version because
	// that would hide Manifest.Version, and it is left out of JSON because
	// it would only repeat it.
	SemVer *semver.Version `json:"-"`
	// Refused is why the entry may not be used, wrapping ErrUnsafe (see
	// trust.go), or nil; RefusedReason is its text, for JSON. A refused
	// entry whose manifest was not trusted has only what its folders say
	// (name, version, OS and architecture) and no Path.
	Refused       error  `json:"-"`
	RefusedReason string `json:"refused,omitempty"`
}

// String names the entry the way messages refer to it, e.g.
// "runtime shell 2.0.0 (linux/amd64)".
func (e *Entry) String() string {
	kind := "runtime"
	if e.Kind == sdk.KindJobType {
		kind = "job type plugin"
	}
	return fmt.Sprintf("%s %s %s (%s/%s)", kind, e.Name, e.Version, e.OS, e.Arch)
}

// Catalog is a runtime catalog rooted at a folder. It is safe for concurrent
// use; the only state it keeps is a cache of successful verifications.
type Catalog struct {
	root string

	mu       sync.Mutex
	verified map[string]verifiedFile // by binary path
	// manifests caches what each manifest said, by its folder, while the
	// file is unchanged: a job's start lists the catalog, and reading and
	// checking every manifest each time was most of its cost.
	manifests map[string]cachedManifest
	listings  map[string]cachedListing // by folder
}

// cachedManifest is an entry read from a manifest file as it was (id).
type cachedManifest struct {
	id    fileID
	entry Entry
}

// Open returns the catalog rooted at root. It does not touch the disk: the
// folder may not exist yet, in which case the catalog is simply empty until
// the first Install creates it. A relative root is made absolute now so that
// a later change of working folder cannot move the catalog.
func Open(root string) *Catalog {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	} else {
		root = filepath.Clean(root)
	}
	return &Catalog{root: root, verified: make(map[string]verifiedFile), manifests: make(map[string]cachedManifest), listings: make(map[string]cachedListing)}
}

// Root returns the absolute folder of the catalog.
func (c *Catalog) Root() string { return c.root }

// DefaultRoot returns where runtimes live unless the user says otherwise:
// $BGJOB_RUNTIMES if set, else $XDG_DATA_HOME/bgjob/runtimes, else
// ~/.local/share/bgjob/runtimes. A relative $XDG_DATA_HOME is ignored, as
// the XDG specification requires.
//
// If no home folder can be found (no $HOME), it returns the relative path
// .local/share/bgjob/runtimes rather than failing, so read-only commands
// still work; set BGJOB_RUNTIMES in such environments.
func DefaultRoot() string {
	if r := os.Getenv("BGJOB_RUNTIMES"); r != "" {
		return r
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "bgjob", "runtimes")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "bgjob", "runtimes")
}

// List returns every installed entry, sorted by name, then version newest
// first, then OS and architecture, which is the order both the table and
// Resolve want.
//
// Folders without a manifest.json are skipped silently (a half-finished
// install or a stray folder should not break every launch), but a manifest
// that cannot be read or does not describe its own folder is an error naming
// the file: silently skipping it could make Resolve pick an older version
// than the user expects.
func (c *Catalog) List() ([]*Entry, error) {
	names, err := c.names()
	if err != nil {
		return nil, err
	}
	var entries []*Entry
	for _, name := range names {
		es, err := c.listName(name)
		if err != nil {
			return nil, err
		}
		entries = append(entries, es...)
	}
	sortEntries(entries)
	return entries, nil
}

// names is the runtime names in the catalog: its root's folders, once the
// root is trusted. No root is no names.
func (c *Catalog) names() ([]string, error) {
	// A catalog root others could change holds nothing to trust, not even
	// the names of its folders.
	if err := c.checkTrusted(c.root); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if errors.Is(err, ErrUnsafe) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot read the runtime catalog %s: %w; check that it is a readable folder, or point BGJOB_RUNTIMES at another one", c.root, err)
	}
	names, err := c.subdirs(c.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the runtime catalog %s: %w; check that it is a readable folder, or point BGJOB_RUNTIMES at another one", c.root, err)
	}
	return names, nil
}

// listName is List's entries of one runtime name, a folder of the root
// (checked by the caller), unsorted.
func (c *Catalog) listName(name string) ([]*Entry, error) {
	var entries []*Entry
	nameErr, ok := c.checkBelow(filepath.Join(c.root, name), nil)
	if !ok {
		return nil, nil // removed while we were looking
	}
	versions, err := c.subdirs(filepath.Join(c.root, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // removed while we were looking
		}
		return nil, fmt.Errorf("cannot read the runtime catalog folder %s: %w; check its permissions", filepath.Join(c.root, name), err)
	}
	for _, version := range versions {
		vdir := filepath.Join(c.root, name, version)
		versionErr, ok := c.checkBelow(vdir, nameErr)
		if !ok {
			continue
		}
		platforms, err := c.subdirs(vdir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("cannot read the runtime catalog folder %s: %w; check its permissions", vdir, err)
		}
		for _, platform := range platforms {
			e, err := c.trustedEntry(filepath.Join(vdir, platform), name, version, platform, versionErr)
			if err != nil {
				return nil, err
			}
			if e != nil {
				entries = append(entries, e)
			}
		}
	}
	return entries, nil
}

// sortEntries orders entries by name, version (newest first), OS, arch. Equal
// versions spelled differently ("2.1.0" and "v2.1.0") are ordered by
// spelling so that the result, and hence Resolve, is deterministic.
func sortEntries(entries []*Entry) {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if c := a.SemVer.Compare(b.SemVer); c != 0 {
			return c > 0
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		if a.OS != b.OS {
			return a.OS < b.OS
		}
		if ra, rb := archRank(a.Arch), archRank(b.Arch); ra != rb {
			return ra < rb
		}
		return a.Arch < b.Arch
	})
}

// subdirs returns the names of the visible sub-folders of dir, following
// symlinks so that a runtime folder may be linked in from elsewhere.
// Dot-folders are skipped: Install stages files under dot-names.
// subdirs is the cached listing of dir's folders while dir is unchanged
// (its stat; a new or removed folder changes it), unless it holds links,
// whose targets can change without it. Listing the catalog's folders on
// every start was most of what looking a runtime up cost.
func (c *Catalog) subdirs(dir string) ([]string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	id, cacheable := statID(fi)
	cacheable = cacheable && id.settled(dir)
	if cacheable {
		c.mu.Lock()
		l, ok := c.listings[dir]
		c.mu.Unlock()
		if ok && l.id == id {
			return l.names, nil
		}
	}
	names, links, err := subdirs(dir)
	if err == nil && cacheable && !links {
		c.mu.Lock()
		c.listings[dir] = cachedListing{id: id, names: names}
		c.mu.Unlock()
	}
	return names, err
}

type cachedListing struct {
	id    fileID
	names []string
}

func subdirs(dir string) (names []string, links bool, err error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	for _, de := range des {
		if de.Name() == "" || de.Name()[0] == '.' {
			continue
		}
		isDir := de.IsDir()
		if de.Type()&fs.ModeSymlink != 0 {
			links = true
			if fi, err := os.Stat(filepath.Join(dir, de.Name())); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir {
			names = append(names, de.Name())
		}
	}
	return names, links, nil
}

// trustedEntry is entry after the checks of trust.go: refused when
// refused (a folder above was unsafe) or when the platform folder, the
// manifest or the binary is unsafe. nil, nil for a folder without a
// manifest, as entry.
func (c *Catalog) trustedEntry(dir, name, version, platform string, refused error) (*Entry, error) {
	e, _, err := c.checkedEntry(dir, name, version, platform, refused)
	return e, err
}

// checkedEntry is trustedEntry; checked says the binary was there and
// found safe (with its folders up to dir), which a missing one is not.
func (c *Catalog) checkedEntry(dir, name, version, platform string, refused error) (_ *Entry, checked bool, _ error) {
	if refused == nil {
		refused = c.checkOne(dir)
	}
	manifest := filepath.Join(dir, manifestFile)
	if refused == nil {
		refused = c.checkOne(manifest)
	} else if _, err := os.Lstat(manifest); err != nil {
		refused = err
	}
	switch {
	case errors.Is(refused, fs.ErrNotExist):
		return nil, false, nil
	case refused != nil && !errors.Is(refused, ErrUnsafe):
		return nil, false, fmt.Errorf("cannot read runtime manifest %s: %w; check its permissions", manifest, refused)
	case refused != nil:
		return refusedEntry(dir, name, version, platform, refused), false, nil
	}
	e, err := c.entry(dir, name, version, platform)
	if e == nil || err != nil {
		return e, false, err
	}
	err = c.checkOne(e.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.refuse(err) // a missing binary is Verify's to report
	}
	return e, err == nil, nil
}

// readEntry loads the manifest in dir. It returns nil, nil when there is no
// manifest. The folder names are checked against the manifest because
// Resolve trusts the manifest while the user sees the folders: the two must
// not disagree.
// entry is readEntry, from the cache while the manifest is unchanged (by
// stat: device, inode, size and times, as verification's cache does).
func (c *Catalog) entry(dir, name, version, platform string) (*Entry, error) {
	manifest := filepath.Join(dir, manifestFile)
	fi, err := os.Stat(manifest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	id, cacheable := fileID{}, false
	if err == nil {
		id, cacheable = statID(fi)
		cacheable = cacheable && id.settled(manifest)
	}
	if cacheable {
		c.mu.Lock()
		m, ok := c.manifests[dir]
		c.mu.Unlock()
		if ok && m.id == id {
			e := m.entry
			return &e, nil
		}
	}
	e, err := readEntry(dir, name, version, platform)
	if err == nil && e != nil && cacheable {
		c.mu.Lock()
		c.manifests[dir] = cachedManifest{id: id, entry: *e}
		c.mu.Unlock()
	}
	return e, err
}

func readEntry(dir, name, version, platform string) (*Entry, error) {
	file := filepath.Join(dir, manifestFile)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read runtime manifest %s: %w; check its permissions", file, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("runtime manifest %s is not valid JSON: %w; reinstall the runtime with 'bgjob runtime install' or remove the folder %s", file, err, dir)
	}
	v, err := m.check()
	if err == nil {
		err = checkFileName(m.Binary)
		if err != nil {
			err = fmt.Errorf("binary %w", err)
		}
	}
	if err == nil {
		err = checkSHA256(m.SHA256)
	}
	if err == nil && (m.Name != name || m.Version != version || m.OS+"_"+m.Arch != platform) {
		err = fmt.Errorf("it describes %s %s %s_%s but sits in %s/%s/%s", m.Name, m.Version, m.OS, m.Arch, name, version, platform)
	}
	if err != nil {
		return nil, fmt.Errorf("runtime manifest %s is invalid: %w; reinstall the runtime with 'bgjob runtime install' or remove the folder %s", file, err, dir)
	}
	return &Entry{
		Manifest: m,
		Dir:      dir,
		Path:     filepath.Join(dir, m.Binary),
		SemVer:   v,
	}, nil
}
