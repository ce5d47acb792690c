package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	code, out, errs := runCLI(t, "man", dir)
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("man %s: exit %d, stdout %q, stderr %q", dir, code, out, errs)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	// A page for every visible command: not for help, man or __complete.
	want := []string{"bgjob.1"}
	root := newRoot()
	var visit func(path string, cmds []*cobra.Command)
	visit = func(path string, cmds []*cobra.Command) {
		for _, c := range cmds {
			if !c.IsAvailableCommand() {
				continue
			}
			want = append(want, path+"-"+c.Name()+".1")
			visit(path+"-"+c.Name(), c.Commands())
		}
	}
	visit("bgjob", root.Commands())
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pages:\n%s\nwant:\n%s", strings.Join(got, " "), strings.Join(want, " "))
	}
	for _, must := range []string{"bgjob-start.1", "bgjob-host.1", "bgjob-host-stop.1", "bgjob-runtime.1", "bgjob-completion.1", "bgjob-get.1"} {
		if _, err := os.Stat(filepath.Join(dir, must)); err != nil {
			t.Errorf("no page %s", must)
		}
	}
	for _, bad := range []string{"bgjob-man.1", "bgjob-help.1", "bgjob-__complete.1"} {
		if _, err := os.Stat(filepath.Join(dir, bad)); err == nil {
			t.Errorf("a page for %s", bad)
		}
	}
	macros := map[string]bool{".TH": true, ".SH": true, ".SS": true, ".PP": true, ".TP": true, ".B": true, ".BR": true,
		".RS": true, ".RE": true, ".nf": true, ".fi": true}
	for _, name := range got {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		for _, sec := range []string{".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n", ".SH OPTIONS\n", ".SH ENVIRONMENT\n", ".SH EXIT STATUS\n"} {
			if !strings.Contains(page, sec) {
				t.Errorf("%s has no %s", name, strings.TrimSpace(sec))
			}
		}
		if !strings.HasPrefix(page, `.TH "`+strings.ToUpper(strings.TrimSuffix(name, ".1"))+`" 1 "2026-01-01" "bgjob `) {
			t.Errorf("%s begins %q", name, strings.SplitN(page, "\n", 2)[0])
		}
		for i, line := range strings.Split(page, "\n") {
			if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
				if m, _, _ := strings.Cut(line, " "); !macros[m] {
					t.Errorf("%s:%d: unknown request %q (unescaped text?)", name, i+1, line)
				}
			}
		}
		// The help flag, at least, is an option of every command.
		if !strings.Contains(page, `\fB\-h\fR, \fB\-\-help\fR`) {
			t.Errorf("%s does not list --help", name)
		}
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	start := read("bgjob-start.1")
	for _, want := range []string{"bgjob\\-start \\- Start a background job", `\fB\-\-runtime\-version\fR=\fIstring\fR`, ".SH EXAMPLES", `\fB\-\-system\fR`, "141"} {
		if !strings.Contains(start, want) {
			t.Errorf("bgjob-start.1 lacks %q", want)
		}
	}
	host := read("bgjob-host.1")
	for _, want := range []string{`\fB\-\-idle\-exit\fR=\fIduration\fR`, "(default 10m0s)", ".BR bgjob\\-host\\-stop (1)"} {
		if !strings.Contains(host, want) {
			t.Errorf("bgjob-host.1 lacks %q", want)
		}
	}
	top := read("bgjob.1")
	for _, want := range []string{".B BGJOB_IDLE_EXIT", ".B NO_COLOR", ".SH COMMANDS", ".BR bgjob\\-start (1)"} {
		if !strings.Contains(top, want) {
			t.Errorf("bgjob.1 lacks %q", want)
		}
	}
	if strings.Contains(top, "Environment:") {
		t.Error("bgjob.1 repeats the environment in its description")
	}

	// groff, where installed, reads every page without a warning.
	if groff, err := exec.LookPath("groff"); err == nil {
		for _, name := range got {
			out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", filepath.Join(dir, name)).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("groff %s: %v\n%s", name, err, out)
			}
		}
	}
	// Without a directory: a usage error.
	if code, _, errs := runCLI(t, "man"); code != 2 || !strings.Contains(errs, "directory") {
		t.Errorf("man without DIR: exit %d, %q", code, errs)
	}
}

func TestRoff(t *testing.T) {
	for in, want := range map[string]string{
		`a-b`:            `a\-b`,
		`.hidden`:        `\&.hidden`,
		`'quoted' x`:     `\&'quoted' x`,
		`back\slash`:     `back\eslash`,
		"two\n.lines":    "two\n\\&.lines",
		"it's $HOME/x.y": "it's $HOME/x.y",
	} {
		if got := roffText(in); got != want {
			t.Errorf("roffText(%q) = %q, want %q", in, got, want)
		}
	}
	got := roffBlock("Para one\nwraps.\n\n  indented\n  block\n\nList:\n  0  zero\n  1  one")
	want := ".PP\nPara one\nwraps.\n.PP\n.RS 4\n.nf\nindented\nblock\n.fi\n.RE\n.PP\nList:\n.RS 4\n.nf\n0  zero\n1  one\n.fi\n.RE\n"
	if got != want {
		t.Errorf("roffBlock:\n%s\nwant:\n%s", got, want)
	}
	if d := manDate(); time.Since(d) > time.Minute && os.Getenv("SOURCE_DATE_EPOCH") == "" {
		t.Errorf("manDate without SOURCE_DATE_EPOCH = %v", d)
	}
}
