package sshloc

import (
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

func TestParseComputer(t *testing.T) {
	tests := []struct {
		in         string
		host, port string
		bad        bool
	}{
		{in: "web1", host: "web1"},
		{in: "bgjt-a", host: "bgjt-a"},
		{in: "alice@web1", host: "alice@web1"},
		{in: "web1:2222", host: "web1", port: "2222"},
		{in: "alice@10.0.0.5:2200", host: "alice@10.0.0.5", port: "2200"},
		{in: "[::1]:2222", host: "::1", port: "2222"},
		{in: "bob@[fe80::1]:22", host: "bob@fe80::1", port: "22"},
		{in: "::1", host: "::1"}, // a bare IPv6 address: no port
		{in: "web1:ssh", bad: true},
		{in: "web1:0", bad: true},
		{in: "web1:70000", bad: true},
		{in: ":22", bad: true},
		{in: "-oProxyCommand=evil", bad: true}, // never an option to ssh
		{in: "a b", bad: true},
		{in: "a;reboot", bad: true},
		{in: "", bad: true},
		{in: "alice@", bad: true}, // no host: ssh would try ""
		{in: "@web1", bad: true},
	}
	for _, tt := range tests {
		d, err := parseComputer(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseComputer(%q) = %+v, want an error", tt.in, d)
			}
			continue
		}
		if err != nil || d.host != tt.host || d.port != tt.port {
			t.Errorf("parseComputer(%q) = %+v, %v; want host %q port %q", tt.in, d, err, tt.host, tt.port)
		}
	}
}

// ssh gets the options that keep it from prompting or trusting an unknown
// key, the port when the computer gave one, and the destination after --.
func TestSSHArgs(t *testing.T) {
	d, _ := parseComputer("alice@web1:2222")
	a := strings.Join(d.args(nil, "echo 'hi'"), " ")
	for _, want := range []string{"-o BatchMode=yes", "-o StrictHostKeyChecking=yes", "-p 2222 -- alice@web1 sh -c 'echo '\\''hi'\\'''"} {
		if !strings.Contains(a, want) {
			t.Errorf("ssh %s: lacks %q", a, want)
		}
	}
	d, _ = parseComputer("web1")
	if a := strings.Join(d.args(nil, "true"), " "); strings.Contains(a, "-p ") {
		t.Errorf("ssh %s: a port where the computer gave none (ssh_config's applies)", a)
	}
}

func TestGoPlatform(t *testing.T) {
	tests := []struct{ uname, goos, goarch string }{
		{"Linux x86_64", "linux", "amd64"},
		{"Linux aarch64", "linux", "arm64"},
		{"Darwin arm64", "darwin", "arm64"},
		{"FreeBSD amd64", "freebsd", "amd64"},
		{"Linux i686", "linux", "386"},
		{"Linux armv7l", "linux", "arm"},
		{"SunOS i86pc", "", ""},
		{"Linux mips", "", ""},
		{"Linux", "", ""},
	}
	for _, tt := range tests {
		goos, goarch, ok := goPlatform(tt.uname)
		if ok != (tt.goos != "") || goos != tt.goos || goarch != tt.goarch {
			t.Errorf("goPlatform(%q) = %s/%s %v, want %s/%s", tt.uname, goos, goarch, ok, tt.goos, tt.goarch)
		}
	}
}

// ssh's own messages come with what to do about them; an unknown host key
// names ssh-keyscan and ssh.
func TestHint(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"No ED25519 host key is known for [127.0.0.2]:2222 and you have requested strict checking.\nHost key verification failed.", "ssh-keyscan"},
		{"Host key verification failed.", "connect once with ssh"},
		{"@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", "ssh-keygen -R"},
		{"alice@web1: Permission denied (publickey).", "BatchMode"},
		{"ssh: connect to host 127.0.0.4 port 2224: Connection refused", ""},
	}
	for _, tt := range tests {
		got := hint(tt.msg)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("hint(%q) = %q, want one saying %q", tt.msg, got, tt.want)
		}
	}
}

// A job over SSH runs as whoever submits it, from their own host; and
// only what the location can do is taken.
func TestCheck(t *testing.T) {
	l := New(Config{})
	ok := func() *api.StartRequest {
		return &api.StartRequest{Script: "hostname", SSH: &api.SSHRequest{Computers: []string{"a", "b:2222"}}}
	}
	if err := l.Check(ok(), true); err != nil {
		t.Fatalf("a plain job: %v", err)
	}
	tests := []struct {
		name    string
		change  func(r *api.StartRequest)
		ownHost bool
		want    string
	}{
		{"system host or --credential", func(*api.StartRequest) {}, false, "runs as whoever submits it"},
		{"no computers", func(r *api.StartRequest) { r.SSH.Computers = nil }, true, "--computer-name"},
		{"no ssh request", func(r *api.StartRequest) { r.SSH = nil }, true, "--computer-name"},
		{"thread", func(r *api.StartRequest) { r.Thread = true }, true, "--thread"},
		{"slurm flags", func(r *api.StartRequest) { r.Slurm = &api.SlurmRequest{Nodes: 2} }, true, "--location slurm"},
		{"group", func(r *api.StartRequest) { r.Group = "gpu" }, true, "--group"},
		{"type", func(r *api.StartRequest) { r.Type = "Copy" }, true, "only scripts"},
		{"bad computer", func(r *api.StartRequest) { r.SSH.Computers = []string{"-oProxyCommand=x"} }, true, "not a computer name"},
		{"negative throttle", func(r *api.StartRequest) { r.SSH.ThrottleLimit = -1 }, true, "--throttle-limit"},
	}
	for _, tt := range tests {
		r := ok()
		tt.change(r)
		err := l.Check(r, tt.ownHost)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
}

// The follow command launches the task only if its directory says it was
// not (mkdir succeeds once), detached, then follows from the offset given;
// a stop rides along.
func TestFollowScript(t *testing.T) {
	s := followScript(".cache/bgjob/jobs/x'y", "abc", 42, false)
	for _, want := range []string{
		`d='.cache/bgjob/jobs/x'\''y'`,
		`if mkdir "$d/launched" 2>/dev/null; then nohup "$b" remote-task -sha256 abc "$d" </dev/null >"$d/task-0.out" 2>&1 & echo $! >"$d/task-0.pid"; fi`,
		`exec "$b" remote-task -follow 42 "$d"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("followScript:\n%s\nlacks\n%s", s, want)
		}
	}
	if strings.Contains(s, "\n") || strings.Contains(s, "-stop") {
		t.Errorf("followScript: %s; want one line, no stop", s)
	}
	if s := followScript("d", "abc", 0, true); !strings.Contains(s, `-follow 0 -stop "$d"`) {
		t.Errorf("followScript with stop: %s", s)
	}
}

// What a removal that gave up on a child tells the user to run there is
// ssh as they would type it: a port given with the computer goes to -p
// (ssh takes no host:port).
func TestSSHCommand(t *testing.T) {
	for in, want := range map[string]string{
		"web1":                "'ssh web1 touch d/stop'",
		"alice@10.0.0.5:2200": "'ssh -p 2200 alice@10.0.0.5 touch d/stop'",
		"[::1]:2222":          "'ssh -p 2222 ::1 touch d/stop'",
	} {
		if got := sshCommand(in, "touch d/stop"); got != want {
			t.Errorf("sshCommand(%q) = %s, want %s", in, got, want)
		}
	}
}
