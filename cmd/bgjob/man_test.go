package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/api"

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

// plain is text as a reader sees it, for comparing what the help, a man
// page and the README say: markdown's code quotes and escaped pipes, and
// roff's escapes, gone; every run of blanks and line breaks one space.
func plain(s string) string {
	s = strings.NewReplacer("`", "", `\|`, "|", `\-`, "-", `\e`, `\`, `\&`, "").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStartWaitExitSaidAlike: what start --wait exits with is said the
// same way by start --help, its man page and the README (it once said 1
// for any failure in the help, and the job's own status in the README).
func TestStartWaitExitSaidAlike(t *testing.T) {
	want := plain(startWaitExit)
	for _, must := range []string{"own exit status", "143", "exit 7"} {
		if !strings.Contains(want, must) {
			t.Fatalf("startWaitExit does not say %q: %s", must, want)
		}
	}
	code, help, _ := runCLI(t, "start", "--help")
	if code != 0 {
		t.Fatalf("start --help: exit %d", code)
	}
	var page string
	for _, c := range newRoot().Commands() {
		if c.Name() == "start" {
			page = manPage(c, time.Unix(0, 0))
		}
	}
	for where, text := range map[string]string{"start --help": help, "bgjob-start.1": page, "README.md": readme(t)} {
		if !strings.Contains(plain(text), want) {
			t.Errorf("%s does not say: %s", where, want)
		}
	}
	// Nor does the help say it another way elsewhere.
	if strings.Contains(plain(help), "1 if it failed or was stopped") {
		t.Error("start --help still says --wait exits 1 for a stopped job")
	}
}

// TestExitCodesSaidAlike: the README's table of exit codes is the one
// bgjob --help and every man page print (api.ExitCodes), row by row.
func TestExitCodesSaidAlike(t *testing.T) {
	md := readme(t)
	_, table, ok := strings.Cut(md, "### Exit codes\n")
	if !ok {
		t.Fatal("the README has no Exit codes section")
	}
	var rows []string
	for _, line := range strings.Split(table, "\n")[1:] {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		rows = append(rows, line)
	}
	rows = rows[2:] // the head and its rule
	var got, want []string
	for _, r := range rows {
		code, text, _ := strings.Cut(strings.Trim(r, "| "), " | ")
		got = append(got, code+" "+plain(text))
	}
	for _, c := range api.ExitCodes {
		want = append(want, fmt.Sprintf("%d %s", c.Code, plain(c.Text)))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the README's exit codes:\n%s\n\nbgjob's (api.ExitCodes):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStartWaitHelp: start's help on --wait is startWaitExit laid out at
// 74 columns, as it was when the help wrapped it itself.
func TestStartWaitHelp(t *testing.T) {
	want := wrap("With --wait, start instead streams the job's output until it ends, then removes it (Start-Job | Receive-Job -Wait -AutoRemoveJob): "+startWaitExit+".", 74)
	if startWaitHelp != want {
		t.Errorf("startWaitHelp is not startWaitExit laid out at 74 columns; make it:\n%s", want)
	}
	code, help, _ := runCLI(t, "start", "--help")
	if code != 0 || !strings.Contains(help, startWaitHelp) {
		t.Errorf("start --help (exit %d) does not hold the paragraph on --wait:\n%s", code, help)
	}
}

// wrap breaks a paragraph into lines of at most width columns, as the
// help texts are laid out by hand.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
