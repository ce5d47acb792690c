package filecopy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/plugins/filecopy"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

func config() *sdk.ServeConfig {
	return &sdk.ServeConfig{Name: "copy", Version: "1.0.0", Types: []sdk.JobType{filecopy.New()}}
}

// random returns n reproducible bytes.
func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	_, _ = r.Read(b)
	return b
}

// write makes a file with exactly the given mode and time.
func write(t *testing.T, path string, data []byte, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	setModeTime(t, path, mode, mtime)
}

func setModeTime(t *testing.T, path string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// sameTree checks that dst is an exact copy of src: the same entries,
// modes, contents, symlink targets and (but for symlinks) times, with
// FIFOs left out; and that dst holds nothing else, part files included.
func sameTree(t *testing.T, src, dst string) {
	t.Helper()
	want := map[string]bool{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		si, err := os.Lstat(path)
		if err != nil {
			return err
		}
		di, err := os.Lstat(filepath.Join(dst, rel))
		if si.Mode().Type()&fs.ModeNamedPipe != 0 {
			if err == nil {
				t.Errorf("the FIFO %s was copied", rel)
			}
			return nil
		}
		want[rel] = true
		if err != nil {
			t.Errorf("%s was not copied: %v", rel, err)
			return nil
		}
		if si.Mode() != di.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, di.Mode(), si.Mode())
		}
		switch {
		case si.Mode().Type() == fs.ModeSymlink:
			st, _ := os.Readlink(path)
			dt, _ := os.Readlink(filepath.Join(dst, rel))
			if st != dt {
				t.Errorf("%s: symlink to %q, want %q", rel, dt, st)
			}
		case !si.ModTime().Equal(di.ModTime()):
			t.Errorf("%s: modified %v, want %v", rel, di.ModTime(), si.ModTime())
		}
		if si.Mode().IsRegular() && sum(t, path) != sum(t, filepath.Join(dst, rel)) {
			t.Errorf("%s: the content differs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(dst, path); err == nil && !want[rel] {
			t.Errorf("the copy has %s, which the source has not", rel)
		}
		return nil
	})
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func contains(lines []string, s string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, s) })
}

// A tree with nested directories, modes and times, a symlink and a FIFO
// is copied exactly through the protocol, with relative arguments taken
// relative to the job's working directory (not the test's); the FIFO is
// reported and skipped. A second run finds everything unchanged.
func TestCopyTree(t *testing.T) {
	work := t.TempDir()
	src, dst := filepath.Join(work, "src"), filepath.Join(work, "dst")
	day := time.Date(2024, 5, 17, 10, 30, 0, 123456789, time.UTC)
	big := random(3<<20+17, 1)
	write(t, filepath.Join(src, "a.txt"), []byte("hello\n"), 0o644, day)
	write(t, filepath.Join(src, "bin", "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755, day.Add(time.Hour))
	write(t, filepath.Join(src, "deep", "er", "data.bin"), big, 0o600, day.Add(2*time.Hour))
	write(t, filepath.Join(src, "deep", "empty.txt"), nil, 0o444, day.Add(3*time.Hour))
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(src, "pipe")
	hasFIFO := mkfifo(fifo) == nil
	if !hasFIFO {
		t.Log("no FIFOs here: that part is not tested")
	}
	for i, d := range []string{"deep/er", "deep", "bin", "empty", "."} { // deepest first
		setModeTime(t, filepath.Join(src, d), []fs.FileMode{0o750, 0o711, 0o755, 0o700, 0o755}[i], day.Add(time.Duration(i)*time.Minute))
	}
	files, bytes := 5, len("hello\n")+len("#!/bin/sh\necho hi\n")+len(big)
	skipped := 0
	if hasFIFO {
		files, skipped = files+1, 1
	}

	got := sdktest.Protocol(t, sdk.ProtocolV2, config(), &sdk.Job{Id: 1, Type: "Copy", Args: []string{"src", "dst"}, Workdir: work})
	if got.Result != sdk.Success() {
		t.Fatalf("result %+v; errors %q", got.Result, got.Stream(sdk.Error))
	}
	sameTree(t, src, dst)
	summary := fmt.Sprintf("copied 5 files (%d bytes), unchanged 0, skipped %d, failed 0", bytes, skipped)
	if out := got.Stream(sdk.Output); len(out) != 1 || out[0] != summary {
		t.Errorf("output %q, want [%q]", out, summary)
	}
	verbose := got.Stream(sdk.Verbose)
	for _, want := range []string{"copied: a.txt (6 bytes)", "copied: link (symlink to a.txt)", fmt.Sprintf("copied: %s (%d bytes)", filepath.Join("deep", "er", "data.bin"), len(big))} {
		if !slices.Contains(verbose, want) {
			t.Errorf("verbose %q lacks %q", verbose, want)
		}
	}
	var errs []*sdk.Record
	var progress []*sdk.ProgressDetail
	for _, r := range got.Records {
		switch r.Stream {
		case sdk.Error:
			errs = append(errs, r)
		case sdk.Progress:
			progress = append(progress, r.Progress)
		}
	}
	if hasFIFO && (len(errs) != 1 || errs[0].Error.GetCategory() != "InvalidType" || errs[0].Error.GetTarget() != fifo || !strings.Contains(errs[0].Message, fifo)) {
		t.Errorf("error records %v, want one InvalidType for %s", errs, fifo)
	} else if !hasFIFO && len(errs) != 0 {
		t.Errorf("error records %v", errs)
	}
	if len(progress) < 2 {
		t.Fatalf("progress %v, want a start and an end at least", progress)
	}
	first, last := progress[0], progress[len(progress)-1]
	if first.Percent != 0 || first.SecondsRemaining != -1 || first.Completed || first.Status != fmt.Sprintf("0 of %d files, 0 of %d bytes", files, bytes) {
		t.Errorf("first progress %v", first)
	}
	if !last.Completed || last.Percent != 100 || last.SecondsRemaining != 0 || last.Status != fmt.Sprintf("%d of %d files, %d of %d bytes", files, files, bytes, bytes) {
		t.Errorf("last progress %v", last)
	}
	for i, p := range progress {
		if p.ActivityId != 1 || p.Activity != fmt.Sprintf("Copy %s to %s", src, dst) || p.Completed != (i == len(progress)-1) {
			t.Errorf("progress %d: %v", i, p)
		}
		if i > 0 && p.Percent < progress[i-1].Percent {
			t.Errorf("progress went back: %v after %v", p, progress[i-1])
		}
	}

	again := sdktest.Protocol(t, sdk.ProtocolV2, config(), &sdk.Job{Id: 2, Type: "Copy", Args: []string{src, dst}})
	summary = fmt.Sprintf("copied 0 files (0 bytes), unchanged 5, skipped %d, failed 0", skipped)
	if out := again.Stream(sdk.Output); again.Result != sdk.Success() || len(out) != 1 || out[0] != summary {
		t.Errorf("second run: %+v, output %q, want %q", again.Result, out, summary)
	}
	if v := again.Stream(sdk.Verbose); !slices.Contains(v, "unchanged: a.txt") || !slices.Contains(v, "unchanged: link") {
		t.Errorf("second run: verbose %q", v)
	}
	sameTree(t, src, dst)
}

// What an earlier run left is used: a part file is continued from its
// length (its old bytes kept: a wrong prefix shows in verification and is
// copied again), a complete destination is left alone.
func TestResume(t *testing.T) {
	data := random(3<<20+123, 2)
	mtime := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	half := len(data) / 2
	flipped := bytes.Clone(data[:half])
	flipped[10] ^= 0xff
	for _, tc := range []struct {
		name          string
		part, dst     []byte
		dstTime       time.Time
		verbose, warn string
		summary       string
	}{
		{name: "half a part is continued", part: data[:half],
			verbose: fmt.Sprintf("resuming: f at %d of %d bytes", half, len(data))},
		{name: "a part with a wrong prefix is copied again", part: flipped,
			verbose: fmt.Sprintf("resuming: f at %d of %d bytes", half, len(data)), warn: "does not match the source; copying it again"},
		{name: "a complete part is verified and renamed", part: data,
			verbose: fmt.Sprintf("resuming: f at %d of %d bytes", len(data), len(data))},
		{name: "a part longer than the source starts over", part: append(bytes.Clone(data), "more"...),
			verbose: fmt.Sprintf("copied: f (%d bytes)", len(data))},
		{name: "a complete destination is unchanged", dst: data, dstTime: mtime,
			verbose: "unchanged: f", summary: "copied 0 files (0 bytes), unchanged 1, skipped 0, failed 0"},
		{name: "a stale destination of the same size is copied again", dst: random(len(data), 3), dstTime: mtime.Add(time.Second),
			verbose: fmt.Sprintf("copied: f (%d bytes)", len(data))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "f"), filepath.Join(dir, "out", "f")
			write(t, src, data, 0o640, mtime)
			if tc.part != nil {
				write(t, dst+".bgjob-part", tc.part, 0o600, time.Now())
			}
			if tc.dst != nil {
				write(t, dst, tc.dst, 0o640, tc.dstTime)
			}
			e, res := sdktest.Run(context.Background(), filecopy.New(), &sdk.Job{Type: "Copy", Args: []string{src, dst}})
			if res != sdk.Success() {
				t.Fatalf("result %+v; errors %q", res, e.Stream(sdk.Error))
			}
			verbose, warnings := e.Stream(sdk.Verbose), e.Stream(sdk.Warning)
			if !contains(verbose, tc.verbose) {
				t.Errorf("verbose %q lacks %q", verbose, tc.verbose)
			}
			if tc.part != nil && len(tc.part) > len(data) && contains(verbose, "resuming") {
				t.Errorf("resumed a part longer than the source: %q", verbose)
			}
			if tc.warn == "" && len(warnings) > 0 || tc.warn != "" && !contains(warnings, tc.warn) {
				t.Errorf("warnings %q, want %q", warnings, tc.warn)
			}
			summary := tc.summary
			if summary == "" {
				summary = fmt.Sprintf("copied 1 files (%d bytes), unchanged 0, skipped 0, failed 0", len(data))
			}
			if out := e.Stream(sdk.Output); len(out) != 1 || out[0] != summary {
				t.Errorf("output %q, want %q", out, summary)
			}
			if _, err := os.Stat(dst + ".bgjob-part"); err == nil {
				t.Error("the part file is left")
			}
			got, err := os.ReadFile(dst)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the copy differs from the source (%v)", err)
			}
			if fi, _ := os.Stat(dst); fi.Mode() != 0o640 || !fi.ModTime().Equal(mtime) {
				t.Errorf("the copy has mode %v and time %v", fi.Mode(), fi.ModTime())
			}
		})
	}
}

// A stop ends the copy inside a large file, promptly, keeping the part
// file and copying nothing after it; the next run continues the part and
// completes the copy.
func TestStopAndResume(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	mtime := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// 256 MiB, mostly a hole, with data here and there.
	f, err := os.Create(filepath.Join(src, "big"))
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 7 << 20, 100<<20 + 3, 255 << 20} {
		if _, err := f.WriteAt(random(64<<10, uint64(off)), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(f.Truncate(256<<20), f.Close()); err != nil {
		t.Fatal(err)
	}
	setModeTime(t, filepath.Join(src, "big"), 0o644, mtime)
	write(t, filepath.Join(src, "small"), []byte("after the big one"), 0o644, mtime)

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	type ran struct {
		e   *sdktest.Emitter
		res sdk.Result
	}
	done := make(chan ran, 1)
	job := &sdk.Job{Type: "Copy", Args: []string{src, dst}}
	go func() {
		e, res := sdktest.Run(ctx, filecopy.New(), job)
		done <- ran{e, res}
	}()
	part := filepath.Join(dst, "big.bgjob-part")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		if fi, err := os.Stat(part); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no part file after a minute")
		}
	}
	stopped := time.Now()
	cancel(&sdk.StopRequest{Grace: time.Second})
	var r ran
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10 s after the stop")
	}
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("Run took %v to stop", took)
	}
	if want := (sdk.Result{State: sdk.Stopped, Reason: "stopped; start the same copy again to resume"}); r.res != want {
		t.Fatalf("result %+v, want %+v", r.res, want)
	}
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatalf("the part file is gone: %v", err)
	}
	for _, name := range []string{"big", "small"} {
		if _, err := os.Lstat(filepath.Join(dst, name)); err == nil {
			t.Errorf("%s was copied by the stopped run", name)
		}
	}
	if errs := r.e.Stream(sdk.Error); len(errs) != 0 {
		t.Errorf("a stop is no error: %q", errs)
	}
	if out := r.e.Stream(sdk.Output); len(out) != 1 || out[0] != "copied 0 files (0 bytes), unchanged 0, skipped 0, failed 0" {
		t.Errorf("output %q", out)
	}

	e, res := sdktest.Run(context.Background(), filecopy.New(), job)
	if res != sdk.Success() {
		t.Fatalf("second run: %+v; errors %q", res, e.Stream(sdk.Error))
	}
	if want := fmt.Sprintf("resuming: big at %d of %d bytes", fi.Size(), 256<<20); !slices.Contains(e.Stream(sdk.Verbose), want) {
		t.Errorf("second run: verbose %q lacks %q", e.Stream(sdk.Verbose), want)
	}
	sameTree(t, src, dst)
}

// A file that cannot be put in place fails the job, which still copies
// the rest.
func TestFailedFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	write(t, filepath.Join(src, "a"), []byte("a"), 0o644, time.Now())
	write(t, filepath.Join(src, "b"), []byte("b"), 0o644, time.Now())
	// A directory where the file a goes: the rename cannot replace it.
	write(t, filepath.Join(dst, "a", "keep"), nil, 0o644, time.Now())
	got := sdktest.Protocol(t, sdk.ProtocolV2, config(), &sdk.Job{Id: 1, Type: "Copy", Args: []string{src, dst}})
	if want := sdk.Failure(1, "1 of 2 files failed; see the error stream"); got.Result != want {
		t.Errorf("result %+v, want %+v", got.Result, want)
	}
	var errs []*sdk.Record
	for _, r := range got.Records {
		if r.Stream == sdk.Error {
			errs = append(errs, r)
		}
	}
	a := filepath.Join(src, "a")
	if len(errs) != 1 || errs[0].Error.GetCategory() != "WriteError" || errs[0].Error.GetTarget() != a || !strings.Contains(errs[0].Message, a) {
		t.Errorf("errors %v, want one WriteError for %s", errs, a)
	}
	if out := got.Stream(sdk.Output); len(out) != 1 || out[0] != "copied 1 files (1 bytes), unchanged 0, skipped 0, failed 1" {
		t.Errorf("output %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "b")); err != nil || string(b) != "b" {
		t.Errorf("b: %q, %v", b, err)
	}
}

// A single file is copied to the path given, or into it if it is a
// directory.
func TestSingleFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "f.txt")
	write(t, src, []byte("content"), 0o600, time.Now().Add(-time.Hour))
	for dst, want := range map[string]string{"new/g.txt": "new/g.txt", "again.txt": "again.txt"} {
		e, res := sdktest.Run(context.Background(), filecopy.New(), &sdk.Job{Type: "Copy", Args: []string{"f.txt", dst}, Workdir: dir})
		if res != sdk.Success() {
			t.Fatalf("%s: %+v; errors %q", dst, res, e.Stream(sdk.Error))
		}
		if v := e.Stream(sdk.Verbose); !slices.Contains(v, "copied: f.txt (7 bytes)") {
			t.Errorf("%s: verbose %q", dst, v)
		}
		if b, err := os.ReadFile(filepath.Join(dir, want)); err != nil || string(b) != "content" {
			t.Errorf("%s: %s holds %q (%v)", dst, want, b, err)
		}
	}
}

func TestArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args   []string
		reason string
	}{
		{nil, "usage: Copy SOURCE DESTINATION (relative paths are relative to the job's working directory); got 0 arguments"},
		{[]string{"a"}, "usage: Copy SOURCE DESTINATION (relative paths are relative to the job's working directory); got 1 arguments"},
		{[]string{"a", "b", "c"}, "usage: Copy SOURCE DESTINATION (relative paths are relative to the job's working directory); got 3 arguments"},
		{[]string{dir, filepath.Join(dir, "sub")}, fmt.Sprintf("the destination %s is inside the source %s", filepath.Join(dir, "sub"), dir)},
		{[]string{dir, dir}, fmt.Sprintf("the destination %s is inside the source %s", dir, dir)},
	} {
		got := sdktest.Protocol(t, sdk.ProtocolV2, config(), &sdk.Job{Id: 1, Type: "Copy", Args: tc.args})
		if want := sdk.Failure(2, tc.reason); got.Result != want {
			t.Errorf("%q: %+v, want %+v", tc.args, got.Result, want)
		}
	}
	got := sdktest.Protocol(t, sdk.ProtocolV2, config(), &sdk.Job{Id: 1, Type: "Copy", Args: []string{"nothing", "x"}, Workdir: dir})
	if got.Result.State != sdk.Failed || got.Result.ExitCode != 1 || !strings.Contains(got.Result.Reason, "cannot read the source: lstat "+filepath.Join(dir, "nothing")) {
		t.Errorf("a missing source: %+v", got.Result)
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	defs := filepath.Join(root, "defs")
	write(t, filepath.Join(defs, "tree", "a"), []byte("a"), 0o644, time.Now())
	for name, body := range map[string]string{
		"good":      `{"source": "tree", "destination": "../backup"}`,
		"absolute":  fmt.Sprintf(`{"destination": %q, "source": %q}`, filepath.Join(root, "out"), filepath.Join(defs, "tree", "a")),
		"syntax":    "{\n  \"source\": \"tree\",\n  \"destination\" \"x\"\n}\n",
		"truncated": "{\"source\": \"tree\",\n",
		"typed":     "{\"source\": [1],\n \"destination\": \"x\"}",
		"trailing":  `{"source": "tree", "destination": "x"} {}`,
		"unknown":   `{"source": "tree", "destination": "x", "mode": "mirror"}`,
		"nosource":  `{"destination": "x"}`,
		"nodest":    `{"source": "tree"}`,
		"gone":      `{"source": "nothing", "destination": "x"}`,
		"empty":     ``,
	} {
		write(t, filepath.Join(defs, name+".copy.json"), []byte(body), 0o644, time.Now())
	}
	write(t, filepath.Join(defs, "other.json"), []byte("{}"), 0o644, time.Now())
	resolve := func(name, dir string) (*sdk.Definition, error) {
		return sdktest.Resolve(t, config(), &sdk.ResolveRequest{Type: "Copy", DefinitionName: name, DefinitionPath: dir})
	}

	def, err := resolve("good", defs)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := filepath.Join(defs, "tree"), filepath.Join(root, "backup")
	var payload map[string]string
	if err := json.Unmarshal(def.Payload, &payload); err != nil || fmt.Sprint(payload) != fmt.Sprint(map[string]string{"source": src, "destination": dst}) {
		t.Errorf("payload %s (%v)", def.Payload, err)
	}
	if def.Name != "good" || def.Source != filepath.Join(defs, "good.copy.json") || def.Command != "Copy "+src+" "+dst ||
		def.Runtime != "" || def.Args != nil || def.Script != "" {
		t.Errorf("definition %v", def)
	}
	// The resolved definition runs as the host would start it: its payload,
	// no arguments.
	got := sdktest.Protocol(t, sdk.ProtocolV2, config(), &sdk.Job{Id: 1, Type: "Copy", Payload: def.Payload, Command: def.Command})
	if got.Result != sdk.Success() {
		t.Fatalf("running the definition: %+v; errors %q", got.Result, got.Stream(sdk.Error))
	}
	sameTree(t, src, dst)
	if def, err := resolve("absolute", defs); err != nil || def.Command != fmt.Sprintf("Copy %s %s", filepath.Join(defs, "tree", "a"), filepath.Join(root, "out")) {
		t.Errorf("absolute paths: %v, %v", def, err)
	}

	file := func(name string) string { return filepath.Join(defs, name+".copy.json") }
	shape := `(a Copy definition is {"source": PATH, "destination": PATH})`
	for _, tc := range []struct{ name, dir, want string }{
		{"syntax", defs, file("syntax") + `:3:17: not valid JSON: invalid character '"' after object key`},
		{"truncated", defs, file("truncated") + ":1:19: not valid JSON: unexpected end of JSON input"},
		{"typed", defs, file("typed") + `: cannot unmarshal array into Go struct field params.source of type string ` + shape},
		{"trailing", defs, file("trailing") + ":1:40: not valid JSON: invalid character '{' after top-level value"},
		{"unknown", defs, file("unknown") + `: unknown field "mode" ` + shape},
		{"nosource", defs, file("nosource") + `: both paths must be given ` + shape},
		{"nodest", defs, file("nodest") + `: both paths must be given ` + shape},
		{"empty", defs, file("empty") + ":1:1: not valid JSON: unexpected end of JSON input"},
		{"gone", defs, file("gone") + ": the source " + filepath.Join(defs, "nothing") + " does not exist or cannot be read: no such file or directory"},
		{"nope", defs, `there is no Copy definition "nope": no file ` + file("nope") +
			" (the Copy definitions there: absolute, empty, gone, good, nodest, nosource, syntax, trailing, truncated, typed, unknown)"},
		{"nope", filepath.Join(defs, "tree"), `there is no Copy definition "nope": no file ` + filepath.Join(defs, "tree", "nope.copy.json") + " (the Copy definitions there: none)"},
		{"good", file("good"), "the definition path " + file("good") + " is not a directory"},
		{"good", filepath.Join(root, "missing"), "the definition path " + filepath.Join(root, "missing") + " is not a directory"},
	} {
		def, err := resolve(tc.name, tc.dir)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s in %s: %v, %v\nwant error %s", tc.name, tc.dir, def, err, tc.want)
		}
	}
}
