//go:build unix

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVersionMatrix runs real jobs in each line of the shell runtime (1.x on
// protocol 1, 2.x on protocol 2), each in its native and its 32-bit build:
// arguments, input, working directory, exit status, stop, every stream the
// line supports, and, for the legacy line, a host killed with SIGKILL
// mid-job and reattached.
func TestVersionMatrix(t *testing.T) {
	type cell struct {
		constraint string
		run32      bool
	}
	var cells []cell
	for _, c := range []string{"~1", ">=2"} {
		cells = append(cells, cell{c, false})
		if bins.Arch32 != "" {
			cells = append(cells, cell{c, true})
		}
	}
	for _, c := range cells {
		arch, version, protocol := runtime.GOARCH, NewestVersion, 2
		if c.run32 {
			arch = bins.Arch32
		}
		if c.constraint == "~1" {
			version, protocol = LegacyVersion, 1
		}
		t.Run(fmt.Sprintf("%s-%s", version, arch), func(t *testing.T) {
			t.Parallel()
			h := newHome(t)
			flags := []string{"--runtime-version", c.constraint}
			if c.run32 {
				flags = append(flags, "--run-as-32")
			}
			start := func(args ...string) {
				t.Helper()
				h.run(append(append([]string{"start"}, flags...), args...)...)
			}
			work := filepath.Join(h.dir, "w")
			os.MkdirAll(work, 0o755)

			// Arguments, input, working directory, the runtime it is.
			start("--name", "args", "--workdir", work, "--input", "in1", "--input", "in2", "--arg", "a b", "--arg", "c", "--",
				`echo "$BGJOB_RUNTIME_VERSION $BGJOB_RUNTIME_ARCH"; echo "$1|$2"; pwd; while read l; do echo "got $l"; done`)
			// Exit status.
			start("--name", "exit", "--", "echo before; exit 7")
			// Streams: the legacy line has four.
			if protocol == 1 {
				// write-debug is not a command there: the job's last
				// command fails; "true" keeps the job Completed.
				start("--name", "streams", "--", "write-output o; write-error e; write-warning w; write-verbose v; write-debug d; true")
			} else {
				start("--name", "streams", "--", "write-output o; write-error e; write-warning w; write-verbose v; write-debug d; write-information i; write-progress --percent 50 p")
			}
			h.run("wait", "args", "exit", "streams")

			if got := h.run("receive", "args"); got != fmt.Sprintf("%s %s\na b|c\n%s\ngot in1\ngot in2\n", version, arch, work) {
				t.Errorf("args job printed %q", got)
			}
			var jobs []struct {
				State    string
				ExitCode *int
				Runtime  struct {
					Version  string `json:"version"`
					Arch     string `json:"arch"`
					Protocol int    `json:"protocol"`
				}
			}
			if err := json.Unmarshal([]byte(h.run("get", "-o", "json", "args", "exit")), &jobs); err != nil {
				t.Fatal(err)
			}
			if r := jobs[0].Runtime; r.Version != version || r.Arch != arch || r.Protocol != protocol {
				t.Errorf("the job ran in %+v, want %s %s protocol %d", r, version, arch, protocol)
			}
			if jobs[1].State != "Failed" || jobs[1].ExitCode == nil || *jobs[1].ExitCode != 7 {
				t.Errorf("exit 7: %s, exit code %v", jobs[1].State, jobs[1].ExitCode)
			}
			streams := h.run("receive", "-o", "json", "streams")
			want := []string{`"stream":"output","time":"[^"]+","value":"o"`, `"stream":"error"`, `"stream":"warning"`, `"stream":"verbose"`}
			if protocol == 1 {
				// write-debug does not exist there: the script's stderr
				// says so, as an error record.
				want = append(want, `write-debug: command not found`)
			} else {
				want = append(want, `"stream":"debug"`, `"stream":"information"`, `"stream":"progress"`)
			}
			for _, w := range want {
				if !regexpMatch(w, streams) {
					t.Errorf("the streams job lacks %s:\n%s", w, streams)
				}
			}

			// Stop.
			start("--name", "sleeper", "--workdir", work, "--", "echo $$ > /dev/null; echo up; sleep 1000")
			waitOutput(t, h, "sleeper", "up")
			h.run("stop", "sleeper")
			if js := h.jobs("sleeper"); js[0].State != "Stopped" {
				t.Errorf("stopped job is %s: %s", js[0].State, js[0].StateReason)
			}

			// Reattach after the host is killed mid-job.
			if protocol == 1 {
				start("--name", "long", "--workdir", work, "--", `echo first; while [ ! -e go ]; do sleep 0.02; done; echo second`)
				waitOutput(t, h, "long", "first")
				pid, ok := hostPid(h.path)
				if !ok {
					t.Fatal("no host pid")
				}
				syscall.Kill(pid, syscall.SIGKILL)
				waitGone(pid, 5*time.Second)
				os.WriteFile(filepath.Join(work, "go"), nil, 0o644)
				h.run("wait", "long")
				if got := h.run("receive", "long"); got != "first\nsecond\n" {
					t.Errorf("after the host was killed and came back, the legacy job printed %q", got)
				}
				if js := h.jobs("long"); js[0].State != "Completed" {
					t.Errorf("the reattached legacy job is %s: %s", js[0].State, js[0].StateReason)
				}
			}
		})
	}
}

// waitOutput waits until the job has printed a line want (receive --keep).
func waitOutput(t *testing.T, h *home, job, want string) {
	t.Helper()
	// A bound on liveness, not a timing: a job over SSH starts a host on
	// the far side first, which under the whole suite's load on two
	// cores took over 20 s once.
	const limit = 60 * time.Second
	deadline := time.Now().Add(limit)
	for {
		for _, l := range strings.Split(h.run("receive", "--keep", job), "\n") {
			if l == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not print %q within %v", job, want, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
