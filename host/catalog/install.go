package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/safepath"
)

// describeTimeout bounds "<binary> describe". A plugin answers from static
// data without a handshake, so anything slower is hung or is not a plugin.
// It is a variable so tests can shorten it.
var describeTimeout = 10 * time.Second

// maxDescribeOutput caps what we keep of the describe answer (and of its
// stderr), so a binary that is not a plugin cannot make us buffer without
// bound.
const maxDescribeOutput = 1 << 20

// InstallOptions change what Install does.
type InstallOptions struct {
	// Replace lets a binary replace a different one installed for the
	// same name, version, OS and architecture.
	Replace bool
}

// Installed is what Install did: the entry it made, and what was there.
type Installed struct {
	*Entry
	// Replaced is the SHA-256 recorded for the different binary this
	// install replaced (only with InstallOptions.Replace); "" if none.
	Replaced string
	// Again is true when the very binary (by its SHA-256) was installed
	// already: it is written again, which repairs a copy changed since.
	Again bool
}

// Install adds the plugin binary at binaryPath to the catalog and returns
// its entry. A version names one build: installing a different binary for
// the same name, version, OS and architecture is refused, wrapping
// ErrInstalled, unless opts.Replace says to replace it; the same binary
// again is installed again.
//
// The binary is first copied (and hashed) into a dot-file in the catalog
// root, and it is that copy which is asked to describe itself and is then
// renamed into <name>/<version>/<os>_<arch>/. Describing the copy rather
// than the original means the recorded description and SHA-256 are
// guaranteed to be about the very bytes that get installed, even if the
// original changes meanwhile; staging in the root keeps the final rename on
// one file system, so a launch never sees a half-written binary.
func (c *Catalog) Install(ctx context.Context, binaryPath string, opts InstallOptions) (*Installed, error) {
	fi, err := os.Stat(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("cannot install %s: %w; check the path of the plugin binary", binaryPath, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %w: it is %s, not an executable file; give the path of the plugin binary itself", binaryPath, ErrNotPlugin, safepath.Kind(fi.Mode()))
	}
	if !isExecutable(fi.Mode()) {
		return nil, fmt.Errorf("%s is %w: it is not executable (mode %v); make it executable with 'chmod +x %s' and install it again", binaryPath, ErrNotPlugin, fi.Mode().Perm(), binaryPath)
	}
	binary := filepath.Base(binaryPath)
	if err := checkFileName(binary); err != nil {
		return nil, fmt.Errorf("cannot install %s: its %w; rename the file and install it again", binaryPath, err)
	}

	if err := mkdirs(c.root); err != nil {
		return nil, fmt.Errorf("cannot create the runtime catalog %s: %w; check its permissions, or set BGJOB_RUNTIMES to a writable folder", c.root, err)
	}
	staged, sum, err := stage(binaryPath, c.root)
	if err != nil {
		return nil, err
	}
	defer staged.Abort()

	m, v, err := describe(ctx, staged.Name(), binaryPath)
	if err != nil {
		return nil, err
	}
	m.Binary = binary
	m.SHA256 = sum
	if err := c.checkTypesFree(&m); err != nil {
		return nil, fmt.Errorf("cannot install %s: %w", binaryPath, err)
	}

	dir := filepath.Join(c.root, m.Name, m.Version, m.OS+"_"+m.Arch)
	if err := mkdirs(dir); err != nil {
		return nil, fmt.Errorf("cannot install %s: creating %s: %w; check that the runtime catalog is writable", binaryPath, dir, err)
	}
	res := &Installed{}
	previous := ""
	if old := previousManifest(dir); old != nil {
		previous = old.Binary
		switch {
		case old.SHA256 == m.SHA256:
			res.Again = true
		case !opts.Replace:
			// Jobs, restarts and users expect a version to be one
			// build; a new one under an installed version's name
			// would change what they run without a word.
			installed := &Entry{Manifest: m}
			return nil, fmt.Errorf("cannot install %s: %s %w (installed SHA-256 %s, this one %s); a version names one build: give this build a version of its own, or replace the installed one with 'bgjob runtime install --force %s'",
				binaryPath, installed, ErrInstalled, old.SHA256, m.SHA256, binaryPath)
		default:
			res.Replaced = old.SHA256
		}
	}
	path := filepath.Join(dir, m.Binary)
	if err := staged.Commit(path, 0o755); err != nil {
		return nil, fmt.Errorf("cannot install %s as %s: %w; check that the runtime catalog is writable and that no job is running this runtime version", binaryPath, path, err)
	}
	if err := writeManifest(dir, m); err != nil {
		return nil, fmt.Errorf("cannot install %s: %w; check that the runtime catalog is writable, then install it again", binaryPath, err)
	}
	// A reinstall from a differently named file leaves the old binary
	// behind; it is no longer referenced, so remove it.
	if previous != "" && previous != m.Binary {
		os.Remove(filepath.Join(dir, previous))
	}
	c.forget(path)
	res.Entry = &Entry{Manifest: m, Dir: dir, Path: path, SemVer: v}
	return res, nil
}

// mkdirs is os.MkdirAll(dir, 0o755), except that the folders it creates
// get mode 0755 whatever the umask: under a umask of 002 (usual for users
// with a group of their own) they would be group-writable, and the catalog
// refuses folders others could write to (see trust.go).
func mkdirs(dir string) error {
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// stage copies src into a new dot-file in dir, hashing it on the way, and
// seals the copy executable. It returns the copy and its hex SHA-256; Commit
// moves it into place.
func stage(src, dir string) (*atomicfile.File, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, "", fmt.Errorf("cannot install %s: %w; check that it is readable", src, err)
	}
	defer in.Close()
	// Keep the extension: Windows decides executability by it.
	out, err := atomicfile.Create(dir, ".install-*"+filepath.Ext(src))
	if err != nil {
		return nil, "", fmt.Errorf("cannot install %s: %w; check that the runtime catalog %s is writable", src, err, dir)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Seal(0o755)
	}
	if err != nil {
		out.Abort()
		return nil, "", fmt.Errorf("cannot install %s: copying it into %s: %w; check the free space and permissions of the runtime catalog", src, dir, err)
	}
	return out, hex.EncodeToString(h.Sum(nil)), nil
}

// describe runs "<staged> describe" and validates the answer. shown is the
// path the user gave, used in messages instead of the staging file name.
func describe(ctx context.Context, staged, shown string) (Manifest, *semver.Version, error) {
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	cmdline := fmt.Sprintf("`%s describe`", shown)

	var stdout, stderr cappedBuffer
	var err error
	for attempt := 0; ; attempt++ {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.CommandContext(dctx, staged, "describe")
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		// A plugin that leaves a child holding our pipes must not hang us.
		cmd.WaitDelay = time.Second
		err = cmd.Run()
		// A file just written can be briefly "busy" on Linux when another
		// goroutine forks while it is open; that is transient, so retry.
		if err == nil || !isTextBusy(err) || attempt == 4 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}

	switch {
	case err == nil:
	case ctx.Err() != nil:
		return Manifest{}, nil, fmt.Errorf("installing %s was interrupted: %w", shown, ctx.Err())
	case errors.Is(dctx.Err(), context.DeadlineExceeded):
		return Manifest{}, nil, fmt.Errorf("%s is %w: %s did not answer within %v; check that it is a bgjob plugin and that it does not wait for input", shown, ErrNotPlugin, cmdline, describeTimeout)
	default:
		// Start errors name the staging file; the user knows their own path.
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == staged {
			pe.Path = shown
		}
		detail := ""
		if s := stderr.tail(); s != "" {
			detail = fmt.Sprintf(" (it said: %s)", s)
		}
		return Manifest{}, nil, fmt.Errorf("%s is %w: %s failed: %w%s; check that it is a plugin built with the bgjob SDK", shown, ErrNotPlugin, cmdline, err, detail)
	}
	if stdout.overflow {
		return Manifest{}, nil, fmt.Errorf("%s is %w: %s printed more than %d bytes; a plugin prints one small JSON object", shown, ErrNotPlugin, cmdline, maxDescribeOutput)
	}

	out := bytes.TrimSpace(stdout.Bytes())
	if len(out) == 0 {
		return Manifest{}, nil, fmt.Errorf("%s is %w: %s printed nothing; check that it is a plugin built with the bgjob SDK", shown, ErrNotPlugin, cmdline)
	}
	// Unknown fields are ignored so that newer plugins can say more about
	// themselves.
	var m Manifest
	if err := json.Unmarshal(out, &m.Description); err != nil {
		return Manifest{}, nil, fmt.Errorf("%s is %w: %s did not print a JSON description: %w; check that it is a plugin built with the bgjob SDK", shown, ErrNotPlugin, cmdline, err)
	}
	v, err := m.check()
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("%s is %w: %s gave an unusable description: %w; fix the plugin, or use a build of it made for this version of bgjob", shown, ErrNotPlugin, cmdline, err)
	}
	return m, v, nil
}

// previousManifest returns the manifest an earlier install left in dir, or
// nil if there is none usable (a broken one is simply replaced: the
// catalog cannot list what it describes anyway).
func previousManifest(dir string) *Manifest {
	data, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return nil
	}
	var m Manifest
	if json.Unmarshal(data, &m) != nil || checkFileName(m.Binary) != nil {
		return nil
	}
	return &m
}

// writeManifest replaces dir/manifest.json atomically, so readers see either
// the old manifest or the new one, never a truncated file.
func writeManifest(dir string, m Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the manifest: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, manifestFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the manifest in %s: %w", dir, err)
	}
	return nil
}

// cappedBuffer keeps at most maxDescribeOutput bytes but accepts everything,
// so the child is not killed by a broken pipe before we can report why its
// output was unusable.
//
// The buffer is a field, not embedded: exec.Cmd copies the child's output
// with io.Copy, which would use a promoted bytes.Buffer.ReadFrom (or
// WriteString) and take everything, past the cap, without calling Write.
type cappedBuffer struct {
	buf      bytes.Buffer
	overflow bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := maxDescribeOutput - b.buf.Len(); len(p) > room {
		b.buf.Write(p[:max(room, 0)])
		b.overflow = true
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *cappedBuffer) String() string { return b.buf.String() }
func (b *cappedBuffer) Len() int       { return b.buf.Len() }

func (b *cappedBuffer) Reset() {
	b.buf.Reset()
	b.overflow = false
}

// tail returns the end of what was written, on one line, short enough to
// quote in an error message.
func (b *cappedBuffer) tail() string {
	s := strings.Join(strings.Fields(b.String()), " ")
	const limit = 300
	if len(s) <= limit {
		return s
	}
	i := len(s) - limit
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}
