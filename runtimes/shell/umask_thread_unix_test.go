//go:build unix

package shell_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

// mkfiles is a shell function that creates, under the prefix $1, a file
// by each way a job creates one: redirections (the interpreter's open) and
// external commands (touch, mkdir). The interpreter opens redirections
// with mode 0644, touch asks for 0666 and mkdir for 0777.
const mkfiles = `mkfiles() { : > "$1.trunc"; echo x >> "$1.append"; touch "$1.touch"; mkdir "$1.dir"; sh -c umask > "$1.child"; }
`

// wantModes checks the files mkfiles made under prefix against mask m.
func wantModes(t *testing.T, prefix string, m os.FileMode) {
	t.Helper()
	for suffix, perm := range map[string]os.FileMode{".trunc": 0o644, ".append": 0o644, ".touch": 0o666, ".dir": 0o777} {
		fi, err := os.Stat(prefix + suffix)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if got, want := fi.Mode().Perm(), perm&^m; got != want {
			t.Errorf("%s%s: mode %04o, want %04o (mask %04o)", filepath.Base(prefix), suffix, got, want, m)
		}
	}
	b, err := os.ReadFile(prefix + ".child")
	if err != nil {
		t.Errorf("%v", err)
	} else if got, want := strings.TrimSpace(string(b)), fmt.Sprintf("%04o", m); got != want {
		t.Errorf("%s: a command the job ran had the mask %s, want %s", filepath.Base(prefix), got, want)
	}
}

// Thread jobs run concurrently in one process, each with its own
// interpreter. Each must create its files with its own mask: the one it
// was started with (job.Umask, the caller's), or the one it set with the
// umask builtin; never another job's, whichever way the file is made.
// Fifos order the jobs (each open of one waits for the other side), so
// the interleavings checked do not depend on timing.
func TestThreadJobsOwnUmask(t *testing.T) {
	const processMask = 0o002 // none of the jobs': a file made with it shows
	old := syscall.Umask(processMask)
	defer syscall.Umask(old)
	for name, rt := range map[string]*shell.Runtime{"2.x": shell.New(), "legacy": shell.New(shell.WithLegacy())} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var fifos []string
			for _, f := range []string{"a2b.1", "b2a.1", "a2b.2", "b2a.2"} {
				p := filepath.Join(dir, f)
				if err := syscall.Mkfifo(p, 0o600); err != nil {
					t.Fatal(err)
				}
				fifos = append(fifos, p)
			}
			mask := func(m uint32) *uint32 { return &m }
			jobs := map[string]*sdk.Job{
				// A starts with 077 and, once B has made files
				// with its 000, sets 000 itself; B then sets 027.
				"A": {Id: 1, Umask: mask(0o077), Script: mkfiles + `
mkfiles a1
echo > a2b.1
read x < b2a.1
umask 0
mkfiles a2
echo > a2b.2
read x < b2a.2
mkfiles a3
umask`},
				"B": {Id: 2, Umask: mask(0o000), Script: mkfiles + `
read x < a2b.1
mkfiles b1
echo > b2a.1
read x < a2b.2
umask 027
mkfiles b2
echo > b2a.2
mkfiles b3
umask`},
				// C makes files all along, with the mask it
				// was started with, whatever A and B set.
				"C": {Id: 3, Umask: mask(0o022), Script: mkfiles + `
i=0
while [ $i -lt 20 ]; do mkfiles c$i; i=$((i+1)); done
umask`},
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				outputs = map[string]*sdktest.Emitter{}
				once    sync.Once
			)
			// A job that fails leaves the other blocked on a fifo:
			// opening every fifo for both reading and writing lets
			// it go on (and fail), instead of hanging the test.
			unblock := func() {
				once.Do(func() {
					for _, p := range fifos {
						if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
							t.Cleanup(func() { f.Close() })
						}
					}
				})
			}
			for name, job := range jobs {
				job.Name, job.Workdir, job.Env = name, dir, env()
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					e, res := sdktest.Run(ctx, rt, job)
					if res != sdk.Success() {
						t.Errorf("job %s: %+v; errors %q", name, res, e.Stream(sdk.Error))
						unblock()
					}
					mu.Lock()
					outputs[name] = e
					mu.Unlock()
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			wantModes(t, filepath.Join(dir, "a1"), 0o077)
			wantModes(t, filepath.Join(dir, "a2"), 0o000)
			wantModes(t, filepath.Join(dir, "a3"), 0o000)
			wantModes(t, filepath.Join(dir, "b1"), 0o000)
			wantModes(t, filepath.Join(dir, "b2"), 0o027)
			wantModes(t, filepath.Join(dir, "b3"), 0o027)
			for i := range 20 {
				wantModes(t, filepath.Join(dir, fmt.Sprintf("c%d", i)), 0o022)
			}
			for name, want := range map[string]string{"A": "0000", "B": "0027", "C": "0022"} {
				if got := strings.Join(outputs[name].Stream(sdk.Output), "\n"); got != want {
					t.Errorf("job %s: umask printed %q, want %q", name, got, want)
				}
			}
			// The process's own mask is no job's business.
			m := syscall.Umask(processMask)
			if m != processMask {
				t.Errorf("the process's mask is %04o after the jobs, want %04o", m, processMask)
			}
		})
	}
}

// A redirection to a fifo waits for its reader; the job's mask must not
// be held while it waits, or a reader the job starts afterwards (an
// external command, which needs the mask to start) could never come.
func TestRedirectToFifoWaitsOutsideTheMask(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "p"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := uint32(0o022)
	e, res := run(t, shell.New(), &sdk.Job{Umask: &m, Workdir: dir,
		Script: `{ echo hi > p; } & cat p; wait`})
	if res != sdk.Success() {
		t.Fatalf("result %+v, errors %q", res, e.Stream(sdk.Error))
	}
	if got := strings.Join(e.Stream(sdk.Output), "\n"); got != "hi" {
		t.Errorf("output %q, want hi", got)
	}
}

// A redirection through a dangling symlink creates its target, as in any
// shell, with the job's mask.
func TestRedirectThroughDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	m := uint32(0o077)
	e, res := run(t, shell.New(), &sdk.Job{Umask: &m, Workdir: dir,
		Script: `ln -s target link; echo hi > link; cat target`})
	if res != sdk.Success() {
		t.Fatalf("result %+v, errors %q", res, e.Stream(sdk.Error))
	}
	if got := strings.Join(e.Stream(sdk.Output), "\n"); got != "hi" {
		t.Errorf("output %q, want hi", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "target"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("target: mode %04o, want 0600", fi.Mode().Perm())
	}
}
