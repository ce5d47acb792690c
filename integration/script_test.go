//go:build unix

package integration

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk/process"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs the scenarios in testdata/*.txtar. Each script gets a
// fresh host home ($BGJOB_HOME, normally $WORK/h), the shared catalog of
// every built shell version ($BGJOB_RUNTIMES), bgjob and bgjobd first on
// PATH, $SHELL_PLUGIN_<version> naming each built plugin binary (dots
// as underscores: $SHELL_PLUGIN_2_0_0, $SHELL_PLUGIN_3_0_0_BETA_1), and
// $COPY_PLUGIN_NEXT the Copy plugin built as CopyNextVersion. When the
// script ends, its jobs are removed, its host is stopped and any process
// left that belongs to it is killed.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:         "testdata",
		WorkdirRoot: scriptRoot,
		Setup:       setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"killhost":    cmdKillhost,
			"waitfile":    cmdWaitfile,
			"waitlines":   cmdWaitlines,
			"pidgone":     cmdPidgone,
			"exitcode":    cmdExitcode,
			"unixsockets": cmdUnixsockets,
			"nofiles":     cmdNofiles,
			"killpid":     cmdKillpid,
			"tmpfs":       cmdTmpfs,
			"overlap":     cmdOverlap,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		RequireUniqueNames: true,
	})
}

// maxHome keeps $BGJOB_HOME short enough for the unix sockets in it (the
// host's and each job's plugin socket, <home>/run/<id>/plugin<digits>) to
// stay far below the 104-byte limit of sun_path.
const maxHome = 64

func setupScript(env *testscript.Env) error {
	work := env.WorkDir
	home := filepath.Join(work, "h")
	ownHome := false
	if len(home) > maxHome {
		d, err := os.MkdirTemp("", "bgj")
		if err != nil {
			return err
		}
		home, ownHome = filepath.Join(d, "h"), true
	}
	env.Setenv("PATH", bins.BinDir+string(os.PathListSeparator)+env.Getenv("PATH"))
	env.Setenv("BGJOB_HOME", home)
	env.Setenv("BGJOB_RUNTIMES", catalogDir)
	env.Setenv("HOME", work)
	for k, path := range bins.Plugins {
		env.Setenv(pluginVar(k), path)
	}
	env.Setenv("COPY_PLUGIN_NEXT", bins.CopyNext)
	env.Defer(func() {
		vars := env.Vars
		// Every home the script used: its own, and any it made under $WORK
		// by changing BGJOB_HOME (a host leaves host.pid in its home).
		homes := []string{home}
		_ = filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == "host.pid" && !sameDir(filepath.Dir(p), home) {
				homes = append(homes, filepath.Dir(p))
			}
			return nil
		})
		for _, h := range homes {
			cleanupHome(withEnv(vars, "BGJOB_HOME", h), h, []string{work}, func(f string, a ...any) {
				env.T().Log(fmt.Sprintf(f, a...))
			})
		}
		if ownHome {
			os.RemoveAll(filepath.Dir(home))
		}
	})
	return nil
}

// pluginVar is the variable naming the shell plugin of version v.
func pluginVar(v string) string {
	r := strings.NewReplacer(".", "_", "-", "_", "/", "_")
	return "SHELL_PLUGIN_" + strings.ToUpper(r.Replace(v))
}

// withEnv returns vars with key set to value (replacing it if present).
func withEnv(vars []string, key, value string) []string {
	out := make([]string, 0, len(vars)+1)
	for _, kv := range vars {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// killhost [-9]: kill the host of $BGJOB_HOME (SIGTERM, or SIGKILL with -9)
// and wait until it has ended.
func cmdKillhost(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! killhost")
	}
	sig := syscall.SIGTERM
	switch {
	case len(args) == 1 && args[0] == "-9":
		sig = syscall.SIGKILL
	case len(args) != 0:
		ts.Fatalf("usage: killhost [-9]")
	}
	ts.Check(killHost(ts.Getenv("BGJOB_HOME"), sig, 10*time.Second))
}

// waitfile PATH [SECONDS]: wait until PATH holds a whole, newline-ended
// line (default 10 seconds), so that a pid file written by a job can be
// read whole.
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile PATH [SECONDS]")
	}
	waitLines(ts, args[0], 1, seconds(ts, args[1:], 10*time.Second))
}

// waitlines PATH N [SECONDS]: wait until PATH holds at least N lines
// (default 30 seconds): what a job run by a trigger appends, say.
func cmdWaitlines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waitlines PATH N [SECONDS]")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	waitLines(ts, args[0], n, seconds(ts, args[2:], 30*time.Second))
}

// seconds is an optional SECONDS argument, def if there is none.
func seconds(ts *testscript.TestScript, args []string, def time.Duration) time.Duration {
	if len(args) == 0 {
		return def
	}
	s, err := strconv.ParseFloat(args[0], 64)
	ts.Check(err)
	return time.Duration(s * float64(time.Second))
}

// waitLines waits until the file holds n whole (newline-terminated) lines.
func waitLines(ts *testscript.TestScript, name string, n int, timeout time.Duration) {
	path := ts.MkAbs(name)
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if got := strings.Count(string(b), "\n"); got >= n {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s has %d lines after %v, want %d", name, strings.Count(string(b), "\n"), timeout, n)
		}
	}
}

// pidgone PIDFILE: the process whose pid PIDFILE holds ends (or is a
// zombie) within 5 seconds. `! pidgone PIDFILE` asserts it is alive now.
func cmdPidgone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: pidgone PIDFILE")
	}
	pid, err := readPidFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if neg {
		if !alive(pid) {
			ts.Fatalf("process %d (from %s) is not running", pid, args[0])
		}
		return
	}
	if !waitGone(pid, 5*time.Second) {
		st, _ := process.State(pid)
		ts.Fatalf("process %d (from %s) still runs (state %c) after 5s", pid, args[0], st)
	}
}

// exitcode N PROG [ARG...]: run PROG like exec (stdout and stderr can be
// checked afterwards) and assert that it exits with status N.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARG...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// unixsockets PIDFILE: print the paths of the unix sockets that the process
// whose pid PIDFILE holds has bound (listening sockets and the connections
// accepted on them; abstract and unnamed sockets are left out), one a line.
func cmdUnixsockets(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: unixsockets PIDFILE")
	}
	pid, err := readPidFile(ts.MkAbs(args[0]))
	ts.Check(err)
	paths, err := unixSocketPaths(pid)
	ts.Check(err)
	w := ts.Stdout()
	for _, p := range paths {
		fmt.Fprintln(w, p)
	}
}

// nofiles LISTFILE: none of the paths listed in LISTFILE (one a line)
// exists.
func cmdNofiles(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nofiles LISTFILE")
	}
	var left []string
	for _, p := range strings.Split(ts.ReadFile(args[0]), "\n") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		ts.Fatalf("still there: %s", strings.Join(left, ", "))
	}
}

// killpid [-STOP|-KILL|-TERM] PIDFILE: send a signal (default SIGKILL) to
// the process whose pid PIDFILE holds.
func cmdKillpid(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: killpid [-STOP|-KILL|-TERM] PIDFILE")
	}
	sig := syscall.SIGKILL
	if len(args) == 2 {
		switch args[0] {
		case "-STOP":
			sig = syscall.SIGSTOP
		case "-KILL":
		case "-TERM":
			sig = syscall.SIGTERM
		default:
			ts.Fatalf("unknown signal %s", args[0])
		}
		args = args[1:]
	}
	pid, err := readPidFile(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(syscall.Kill(pid, sig))
}

// tmpfs DIR SIZE: mount a tmpfs of SIZE (e.g. 2m) on DIR (made if needed),
// unmounted when the script ends. Needs root.
func cmdTmpfs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tmpfs DIR SIZE")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o700))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+args[1]+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		ts.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	ts.Defer(func() {
		// The host on it is stopped by the script's cleanup first.
		for i := 0; i < 50; i++ {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		exec.Command("umount", "-l", dir).Run()
	})
}
