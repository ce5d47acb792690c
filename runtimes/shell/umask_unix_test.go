//go:build unix

package shell_test

import (
	"strings"
	"syscall"
	"testing"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
)

// umask prints, sets and checks its mode, in both lines; the runtime runs
// in this process here, so the test's own mask is set and restored.
func TestUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for name, rt := range map[string]*shell.Runtime{"2.x": shell.New(), "legacy": shell.New(shell.WithLegacy())} {
		t.Run(name, func(t *testing.T) {
			defer syscall.Umask(0o022)
			script := `umask; umask -S; umask 027; umask; touch f; stat -c %a f; umask 9; echo "rc=$?"; umask 1 2; echo "rc=$?"`
			e, res := run(t, rt, &sdk.Job{Script: script, Workdir: t.TempDir()})
			if res != sdk.Success() {
				t.Fatalf("result %+v", res)
			}
			out := strings.Join(e.Stream(sdk.Output), "\n")
			want := "0022\nu=rwx,g=rx,o=rx\n0027\n640\nrc=2\nrc=2"
			if out != want {
				t.Errorf("output %q, want %q", out, want)
			}
			if errs := strings.Join(e.Stream(sdk.Error), "\n"); !strings.Contains(errs, "9: not an octal mode") {
				t.Errorf("errors %q, want the bad mode named", errs)
			}
		})
	}
}
