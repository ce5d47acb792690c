// Package filecopy is the Copy job type (served by cmd/bgjob-copy), an
// example of a custom job type built on the SDK alone: it runs its jobs
// (sdk.Runtime) and resolves stored definitions, NAME.copy.json
// (sdk.Resolver). A copy is made to be stopped and started again: a file is
// written to DEST.bgjob-part and renamed into place once its SHA-256 matches
// the source's, so no half file has a real name, and the next run skips what
// is done and continues the part it left.
package filecopy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

// chunk is what is copied, or hashed, between two checks for a stop.
const chunk = 1 << 20

// Copy is the Copy job type. It holds no state: a job is one Run.
type Copy struct{}

// New returns the Copy job type.
func New() *Copy { return &Copy{} }

// TypeName implements sdk.JobType.
func (*Copy) TypeName() string { return "Copy" }

// params is a definition file's JSON and a resolved definition's payload.
type params struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// absolute makes p's paths absolute, relative ones joined to dir.
func (p *params) absolute(dir string) {
	for _, path := range []*string{&p.Source, &p.Destination} {
		if !filepath.IsAbs(*path) {
			*path = filepath.Join(dir, *path)
		}
		*path = filepath.Clean(*path)
	}
}

// Run copies a directory's tree into DESTINATION, or a file to DESTINATION,
// from the job's payload (a resolved definition) or its arguments. Relative
// paths are relative to job.Workdir, which the SDK has entered (see sdk.Job);
// Run makes them absolute all the same, so that its messages name whole
// paths. A stop cancels ctx: the copy ends within a chunk, needing none of
// the stop's grace, keeps its part file, and says how to resume.
func (c *Copy) Run(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
	var p params
	if len(job.Payload) > 0 {
		if err := json.Unmarshal(job.Payload, &p); err != nil || !filepath.IsAbs(p.Source) || !filepath.IsAbs(p.Destination) {
			return sdk.Failure(2, fmt.Sprintf("the payload %q is not a resolved Copy definition", job.Payload))
		}
	} else if len(job.Args) != 2 {
		return sdk.Failure(2, fmt.Sprintf("usage: Copy SOURCE DESTINATION (relative paths are relative to the job's working directory); got %d arguments", len(job.Args)))
	} else {
		p = params{job.Args[0], job.Args[1]}
	}
	p.absolute(job.Workdir)
	if rel, err := filepath.Rel(p.Source, p.Destination); err == nil && filepath.IsLocal(rel) {
		return sdk.Failure(2, fmt.Sprintf("the destination %s is inside the source %s", p.Destination, p.Source))
	}
	r := &run{ctx: ctx, out: out, src: p.Source, count: map[string]int{}}
	// The tree is listed first: progress needs the totals, and the walk
	// must not see what the copy creates.
	err := filepath.WalkDir(p.Source, func(path string, d fs.DirEntry, err error) error {
		var info fs.FileInfo
		if err == nil {
			info, err = d.Info()
		}
		if err != nil && path == p.Source {
			return err
		}
		rel, _ := filepath.Rel(p.Source, path)
		r.entries = append(r.entries, entry{rel, info, err})
		if err != nil || !info.IsDir() {
			r.files++
		}
		if err == nil && info.Mode().IsRegular() {
			r.bytes += info.Size()
		}
		return nil
	})
	if err != nil {
		return sdk.Failure(1, "cannot read the source: "+err.Error())
	}
	r.dst, r.start, r.activity = p.Destination, time.Now(), fmt.Sprintf("Copy %s to %s", p.Source, p.Destination)
	r.progress(true)
	if err := os.MkdirAll(filepath.Dir(p.Destination), 0o777); err != nil {
		return sdk.Failure(1, "cannot create the destination: "+err.Error())
	}
	for _, e := range r.entries {
		if ctx.Err() == nil {
			r.do(e)
		}
	}
	// Directories get their mode and time last, deepest first, when
	// nothing more is written into them.
	for _, e := range slices.Backward(r.entries) {
		if dst := filepath.Join(r.dst, e.rel); e.err == nil && e.info.IsDir() && os.Chmod(dst, e.info.Mode().Perm()) == nil {
			_ = os.Chtimes(dst, e.info.ModTime(), e.info.ModTime())
		}
	}
	r.op, r.completed = "", true
	r.progress(true)
	_ = out.Emit(sdk.NewOutput(fmt.Sprintf("copied %d files (%d bytes), unchanged %d, skipped %d, failed %d",
		r.count["copied"], r.copiedBytes, r.count["unchanged"], r.count["skipped"], r.count["failed"]), ""))
	if ctx.Err() != nil {
		return sdk.StoppedResult("stopped; start the same copy again to resume")
	} else if r.count["failed"] > 0 {
		return sdk.Failure(1, fmt.Sprintf("%d of %d files failed; see the error stream", r.count["failed"], r.files))
	}
	return sdk.Success()
}

// entry is a thing under the source (rel "." is the source itself), or
// the error reading it.
type entry struct {
	rel  string
	info fs.FileInfo
	err  error
}

// run is one job's copy, what came of each file (count) and its progress.
type run struct {
	ctx                    context.Context
	out                    sdk.Emitter
	src, dst, activity, op string
	entries                []entry
	count                  map[string]int
	files, filesDone       int
	// bytesDone counts unchanged and resumed bytes too; written is what
	// this run wrote, for the rate.
	bytes, bytesDone, copiedBytes, written int64
	start, last                            time.Time
	completed                              bool
}

// do copies one entry and reports it. Anything but a directory is done
// (copied, unchanged, skipped or failed) unless the job is stopped in it.
func (r *run) do(e entry) {
	src, dst, name := filepath.Join(r.src, e.rel), filepath.Join(r.dst, e.rel), e.rel
	if name == "." {
		name = filepath.Base(r.src)
	}
	outcome, what, category, unchanged, err := "failed", "", "WriteError", false, e.err
	switch {
	case err != nil:
		category = "ReadError"
	case e.info.IsDir(): // writable by the copy until the end
		if err = errors.Join(os.MkdirAll(dst, 0o700), os.Chmod(dst, e.info.Mode().Perm()|0o700)); err == nil {
			return
		}
		r.files++ // counts as a file that failed
	case e.info.Mode().Type() == fs.ModeSymlink:
		what, unchanged, err = link(src, dst)
	case e.info.Mode().IsRegular():
		r.op = name
		what, unchanged, err = r.copyFile(src, dst, name, e.info)
	default:
		outcome, category, err = "skipped", "InvalidType", fmt.Errorf("not a file, directory or symlink (%v)", e.info.Mode().Type())
	}
	switch {
	case err != nil && r.ctx.Err() != nil:
		return // stopped: neither done nor failed
	case err != nil:
		_ = r.out.Emit(sdk.NewError(fmt.Sprintf("%s %s: %v", outcome, src, err), &sdk.ErrorDetail{Category: category, Target: src}))
	case unchanged:
		outcome = "unchanged"
		_ = r.out.Emit(sdk.NewMessage(sdk.Verbose, "unchanged: "+name))
	default:
		outcome = "copied"
		_ = r.out.Emit(sdk.NewMessage(sdk.Verbose, fmt.Sprintf("copied: %s (%s)", name, what)))
	}
	r.count[outcome]++
	r.filesDone++
	r.progress(false)
}

// link recreates a symlink. Its own time is not copied: the standard
// library cannot set it.
func link(src, dst string) (string, bool, error) {
	target, err := os.Readlink(src)
	if cur, err2 := os.Readlink(dst); err != nil || err2 == nil && cur == target {
		return "", err == nil, err
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	return "symlink to " + target, false, os.Symlink(target, dst)
}

// copyFile copies a regular file unless the destination has its size and
// time (an earlier run copied it). It continues the part file an earlier
// run left; if the result does not match the source (the part was not this
// source's prefix), it copies the file once more from scratch.
func (r *run) copyFile(src, dst, name string, info fs.FileInfo) (string, bool, error) {
	base, part := r.bytesDone, dst+".bgjob-part"
	defer func() { r.bytesDone = base + info.Size() }()
	if d, err := os.Lstat(dst); err == nil && d.Mode().IsRegular() && d.Size() == info.Size() && d.ModTime().Equal(info.ModTime()) {
		return "", true, nil
	}
	for fresh := false; ; fresh = true {
		r.bytesDone = base
		err := r.fill(src, part, name, info.Size(), fresh)
		var sums [2][]byte
		for i, path := range []string{src, part} {
			if err == nil {
				sums[i], err = r.sum(path)
			}
		}
		if err != nil {
			return "", false, err
		} else if bytes.Equal(sums[0], sums[1]) {
			break
		} else if fresh {
			return "", false, fmt.Errorf("the copy %s still differs from the source after copying it again", part)
		}
		_ = r.out.Emit(sdk.NewMessage(sdk.Warning, fmt.Sprintf("%s: what an earlier run left in %s does not match the source; copying it again", name, part)))
	}
	err := errors.Join(os.Chmod(part, info.Mode().Perm()), os.Chtimes(part, info.ModTime(), info.ModTime()))
	if err == nil {
		err = os.Rename(part, dst)
	}
	if err == nil {
		r.copiedBytes += info.Size()
	}
	return fmt.Sprintf("%d bytes", info.Size()), false, err
}

// fill makes part hold all of src: it appends to what part holds, unless
// fresh or part is longer than src, when it starts over.
func (r *run) fill(src, part, name string, size int64, fresh bool) error {
	flag, off := os.O_WRONLY|os.O_CREATE|os.O_APPEND, int64(0)
	if fi, err := os.Stat(part); err == nil && !fresh && fi.Size() <= size {
		off = fi.Size()
	} else {
		flag |= os.O_TRUNC
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.OpenFile(part, flag, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if off > 0 {
		_ = r.out.Emit(sdk.NewMessage(sdk.Verbose, fmt.Sprintf("resuming: %s at %d of %d bytes", name, off, size)))
		r.bytesDone += off
	}
	_, err = io.CopyBuffer(meter{f, r, true}, io.NewSectionReader(in, off, 1<<62), make([]byte, chunk))
	return errors.Join(err, f.Sync(), f.Close())
}

// sum is the SHA-256 of a file.
func (r *run) sum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	_, err = io.CopyBuffer(meter{h, r, false}, f, make([]byte, chunk))
	return h.Sum(nil), err
}

// meter is what a copy or a checksum writes to: it ends them at the next
// chunk once the job is stopped, and counts a copy's progress.
type meter struct {
	w     io.Writer
	r     *run
	count bool
}

func (m meter) Write(b []byte) (int, error) {
	if err := m.r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := m.w.Write(b)
	if m.count {
		m.r.bytesDone, m.r.written = m.r.bytesDone+int64(n), m.r.written+int64(n)
		m.r.progress(false)
	}
	return n, err
}

// progress reports progress if forced or 200 ms have passed, so that a
// tree of small files does not flood the host.
func (r *run) progress(force bool) {
	if !force && time.Since(r.last) < 200*time.Millisecond {
		return
	}
	r.last = time.Now()
	percent, remaining := int32(100), int32(-1)
	if r.bytes > 0 {
		percent = int32(min(r.bytesDone, r.bytes) * 100 / r.bytes)
	}
	if r.written > 0 {
		remaining = int32(float64(max(r.bytes-r.bytesDone, 0)) * time.Since(r.start).Seconds() / float64(r.written))
	}
	_ = r.out.Emit(sdk.NewProgress(&sdk.ProgressDetail{ActivityId: 1, Activity: r.activity,
		Status:           fmt.Sprintf("%d of %d files, %d of %d bytes", r.filesDone, r.files, r.bytesDone, r.bytes),
		CurrentOperation: r.op, Percent: percent, SecondsRemaining: remaining, Completed: r.completed}))
}

// Resolve reads the definition NAME.copy.json in req.DefinitionPath. Its
// relative paths are relative to the file, so definitions move with the
// trees they name; the payload has them absolute, for a job run anywhere.
func (c *Copy) Resolve(_ context.Context, req *sdk.ResolveRequest) (*sdk.Definition, error) {
	dir, name := req.DefinitionPath, req.DefinitionName
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("the definition path %s is not a directory", dir)
	}
	file := filepath.Join(dir, name+".copy.json")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		have, _ := filepath.Glob(filepath.Join(dir, "*.copy.json"))
		for i, f := range have {
			have[i] = strings.TrimSuffix(filepath.Base(f), ".copy.json")
		}
		return nil, fmt.Errorf("there is no Copy definition %q: no file %s (the Copy definitions there: %s)", name, file, cmp.Or(strings.Join(have, ", "), "none"))
	} else if err != nil {
		return nil, err
	}
	// Syntax first, for its position; then the fields, strictly.
	var syntax *json.SyntaxError
	if err := json.Unmarshal(data, new(any)); errors.As(err, &syntax) {
		i := min(max(int(syntax.Offset)-1, 0), len(data)) // the offending byte
		line, col := 1+bytes.Count(data[:i], []byte("\n")), i-bytes.LastIndexByte(data[:i], '\n')
		return nil, fmt.Errorf("%s:%d:%d: not valid JSON: %v", file, line, col, err)
	}
	var p params
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err = dec.Decode(&p); err == nil && (p.Source == "" || p.Destination == "") {
		err = errors.New("both paths must be given")
	}
	if err != nil {
		return nil, fmt.Errorf(`%s: %s (a Copy definition is {"source": PATH, "destination": PATH})`, file, strings.TrimPrefix(err.Error(), "json: "))
	}
	p.absolute(dir)
	if _, err := os.Lstat(p.Source); err != nil {
		return nil, fmt.Errorf("%s: the source %s does not exist or cannot be read: %v", file, p.Source, errors.Unwrap(err))
	}
	payload, err := json.Marshal(p)
	return &sdk.Definition{Name: name, Source: file, Payload: payload, Command: "Copy " + p.Source + " " + p.Destination}, err
}
