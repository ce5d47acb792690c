//go:build unix

package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The job type guide, followed literally: its sh blocks, in order, in an
// empty folder, with the built bgjob on PATH and $BGJOB the checkout.
func TestPluginGuide(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "plugins.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := shBlocks(string(doc))
	if !strings.Contains(script, "bgjob start --type Copy") {
		t.Fatalf("the guide's sh blocks do not start a job:\n%s", script)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	// The Go caches stay where they are (they default under HOME).
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		env[k] = strings.TrimSpace(string(out))
	}
	env["BGJOB"] = root
	env["HOME"] = dir
	env["PATH"] = bins.BinDir + string(os.PathListSeparator) + env["PATH"]
	delete(env, "BGJOB_HOME")
	delete(env, "BGJOB_RUNTIMES")
	delete(env, "BGJOB_DEFINITIONS")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	home := filepath.Join(dir, "mycopy", "home")
	defer cleanupHome(append(cmd.Env, "BGJOB_HOME="+home, "BGJOB_RUNTIMES="+filepath.Join(dir, "mycopy", "catalog")), home, []string{dir}, t.Logf)
	if err := cmd.Run(); err != nil {
		t.Fatalf("the guide's steps failed: %v\n%s", err, out.String())
	}
	// In the shared catalog, where bgjob's own copy plugin serves Copy,
	// the guide's plugin is refused: a type belongs to one plugin.
	install := exec.Command(bins.Bgjob, "runtime", "install", filepath.Join(dir, "mycopy", "bgjob-mycopy"))
	install.Env = append(os.Environ(), "BGJOB_RUNTIMES="+catalogDir)
	if b, err := install.CombinedOutput(); err == nil || !strings.Contains(string(b), "the job type Copy is already served by the plugin copy") {
		t.Errorf("installing a second plugin serving Copy: %v\n%s", err, b)
	}
	for _, want := range []string{`"jobTypes":[{"name":"Copy","runs":true,"resolves":true}]`,
		"copied 2 files (15 bytes), unchanged 0, skipped 0, failed 0", `"stream":"progress"`, `"completed":true`,
		// Hold (step 6): the job's fields as the guide documents them,
		// written in the job's directory with the submitter's mask.
		`type Hold, command "Hold maintenance", args [], payload maintenance, umask 027`,
		"-rw-r----- "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the guide's output lacks %s:\n%s", want, out.String())
		}
	}
	// A job stopped while its Run waits, whose Run then returns a
	// failure, is Stopped.
	if !regexp.MustCompile(`(?m)^\d+ +hold +Hold +Stopped `).MatchString(out.String()) {
		t.Errorf("the stopped Hold job is not Stopped:\n%s", out.String())
	}
}

// shBlocks joins the bodies of a Markdown document's ```sh blocks.
func shBlocks(doc string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in = true
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in:
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
