//go:build unix

package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A legacy-line (protocol 1) runtime outlives its host: once the host is
// killed, the pipes it gave the runtime are broken, and a connection to the
// runtime's socket that is reset makes go-plugin's net/rpc server log. That
// log goes to the runtime's log file, never to the dead host's pipe (a Go
// program writing to a broken pipe on descriptor 2 dies of SIGPIPE), and
// the next host reattaches and receives the rest.
func TestLegacyRuntimeOutlivesHost(t *testing.T) {
	h := newHome(t)
	work := t.TempDir()
	h.run("start", "--name", "long", "--runtime-version", "~1", "--workdir", work, "--",
		`echo first; while [ ! -e go ]; do sleep 0.02; done; echo second`)
	waitOutput(t, h, "long", "first")
	pid, ok := hostPid(h.path)
	if !ok {
		t.Fatal("no host pid")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitGone(pid, 5*time.Second)
	// Connections to the runtime's socket (the host's link to it) that
	// are cut at once, and one that sends garbage.
	socks, _ := filepath.Glob(filepath.Join(h.path, "procs", "*.sock"))
	inRun, _ := filepath.Glob(filepath.Join(h.path, "run", "*", "plugin*"))
	socks = append(socks, inRun...)
	if len(socks) == 0 {
		t.Fatal("no runtime socket in the host's procs directory")
	}
	for _, sock := range socks {
		for i := 0; i < 3; i++ {
			c, err := net.Dial("unix", sock)
			if err != nil {
				continue
			}
			if i == 2 {
				c.Write([]byte("not yamux\r\n\x00\x01"))
			}
			if uc, ok := c.(*net.UnixConn); ok {
				uc.CloseWrite()
			}
			c.Close()
		}
	}
	// Let the runtime take the connections in before it is needed.
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(work, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.run("wait", "long")
	if got := h.run("receive", "long"); got != "first\nsecond\n" {
		t.Errorf("after the host was killed and its connection reset, the legacy job printed %q", got)
	}
	if js := h.jobs("long"); js[0].State != "Completed" {
		t.Errorf("the legacy job is %s: %s", js[0].State, js[0].StateReason)
	}
}

// A finished job's log with 16 bytes overwritten in the middle (a bad disk
// block, a stray write): receive prints the records before the damage,
// then exits 8 naming the file and the byte where the damaged record
// begins, and never prints the damaged bytes as the job's output. (Before
// records carried checksums, receive printed the damage and exited 0.)
func TestReceiveDamagedLog(t *testing.T) {
	h := newHome(t)
	const lines = 200000 // "line-0000001\n": 2.6 MB, some forty records
	h.run("start", "--name", "d", "--", "seq -f 'line-%07g' 1 200000")
	h.run("wait", "d")
	path := filepath.Join(h.path, "jobs", "1.log")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := len(b) / 2
	copy(b[at:], "DAMAGED-DAMAGED!")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := h.exec("", "receive", "d")
	if code != 8 {
		t.Errorf("receive of a damaged log: exit %d, want 8; stderr %q", code, stderr)
	}
	if strings.Contains(stdout, "DAMAGED") {
		t.Errorf("receive printed the damaged bytes as output")
	}
	got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if stdout == "" || len(got) >= lines {
		t.Errorf("receive printed %d lines, want those before the damage", len(got))
	}
	for i, l := range got {
		if want := fmt.Sprintf("line-%07d", i+1); l != want {
			t.Fatalf("line %d is %q, want %q", i+1, l, want)
		}
	}
	m := regexp.MustCompile(regexp.QuoteMeta(path) + ` has .* at byte (\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr does not name the file and the byte: %q", stderr)
	}
	if off, _ := strconv.Atoi(m[1]); off > at || off < at-(64<<10)-32 {
		t.Errorf("the damage is reported at byte %d; the bytes changed at %d, inside the record that begins there", off, at)
	}
}
