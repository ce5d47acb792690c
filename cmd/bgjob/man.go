package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newMan is `bgjob man DIR`: a roff man page per command, for packagers
// (make man). It is written here rather than with cobra/doc, which would
// link a markdown renderer into every call of the CLI.
func newMan() *cobra.Command {
	return &cobra.Command{
		Use:     "man DIR",
		Short:   "Write the man pages (bgjob.1, bgjob-start.1, ...) into DIR",
		Long:    "Write a man page in roff, section 1, for bgjob and each of its commands into DIR (made if needed): bgjob.1, bgjob-start.1, bgjob-host-stop.1, ... Read one with 'man -l DIR/bgjob.1'. $SOURCE_DATE_EPOCH, when set, dates them.",
		Example: "  bgjob man man/ && man -l man/bgjob-start.1",
		Hidden:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return api.Errorf(api.ExitUsage, "give the directory to write the man pages into")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return api.WithCode(api.ExitUsage, writeManPages(cmd.Root(), args[0], manDate()))
		},
	}
}

// manDate is $SOURCE_DATE_EPOCH's day (reproducible builds), else today.
func manDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now()
}

// writeManPages writes the page of root and of every visible command
// under it into dir.
func writeManPages(root *cobra.Command, dir string, date time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var walk func(*cobra.Command) error
	walk = func(c *cobra.Command) error {
		page := manPage(c, date)
		if err := os.WriteFile(filepath.Join(dir, manName(c)+".1"), []byte(page), 0o644); err != nil {
			return err
		}
		for _, sub := range manCommands(c) {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

// manCommands are c's subcommands that get a page: not hidden, not help.
func manCommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			out = append(out, sub)
		}
	}
	return out
}

// manName is the page's name: the command path joined by dashes.
func manName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "-")
}

// manPage is c's page in roff.
func manPage(c *cobra.Command, date time.Time) string {
	c.InitDefaultHelpFlag()
	var b strings.Builder
	name := manName(c)
	fmt.Fprintf(&b, ".TH %q 1 %q %q %q\n", strings.ToUpper(name), date.Format("2006-01-02"), "bgjob "+versionString(), "bgjob manual")
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", roffText(name), roffText(c.Short))

	b.WriteString(".SH SYNOPSIS\n")
	use := strings.TrimSpace(strings.TrimPrefix(c.Use, c.Name()))
	if use == "" && c.HasAvailableSubCommands() {
		use = "COMMAND"
	}
	if !strings.Contains(use, "flags") {
		use = strings.TrimSpace(use + " [flags]")
	}
	fmt.Fprintf(&b, ".B %s\n%s\n", roffText(c.CommandPath()), roffText(use))

	b.WriteString(".SH DESCRIPTION\n")
	long := c.Long
	if long == "" {
		long = c.Short
	}
	if c == c.Root() {
		// The root's environment and exit codes get sections of their own.
		long, _, _ = strings.Cut(long, "Environment:\n")
	}
	b.WriteString(roffBlock(long))

	if subs := manCommands(c); len(subs) > 0 {
		b.WriteString(".SH COMMANDS\n")
		for _, sub := range subs {
			fmt.Fprintf(&b, ".TP\n.BR %s (1)\n%s\n", roffText(manName(sub)), roffText(sub.Short))
		}
	}

	b.WriteString(".SH OPTIONS\n")
	writeFlags(&b, c.NonInheritedFlags())
	if inherited := c.InheritedFlags(); inherited.HasAvailableFlags() {
		b.WriteString(".SS \"Options of every command\"\n")
		writeFlags(&b, inherited)
	}

	if c.Example != "" {
		b.WriteString(".SH EXAMPLES\n.PP\n.RS 4\n.nf\n")
		for _, line := range strings.Split(strings.TrimRight(c.Example, "\n"), "\n") {
			b.WriteString(roffLine(strings.TrimPrefix(line, "  ")) + "\n")
		}
		b.WriteString(".fi\n.RE\n")
	}

	b.WriteString(".SH ENVIRONMENT\n")
	for _, e := range envVars {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", e.Name, roffText(e.Text))
	}

	b.WriteString(".SH EXIT STATUS\n")
	for _, ec := range api.ExitCodes {
		fmt.Fprintf(&b, ".TP\n.B %d\n%s\n", ec.Code, roffText(ec.Text))
	}

	b.WriteString(".SH SEE ALSO\n")
	var see []string
	if p := c.Parent(); p != nil {
		see = append(see, fmt.Sprintf(".BR %s (1)", roffText(manName(p))))
	}
	for _, sub := range manCommands(c) {
		see = append(see, fmt.Sprintf(".BR %s (1)", roffText(manName(sub))))
	}
	if c.Parent() == nil || c.Parent() == c.Root() {
		see = append(see, ".BR bgjobd (8)")
	}
	for i, s := range see {
		if i < len(see)-1 {
			s += " ,"
		}
		b.WriteString(s + "\n")
	}
	return b.String()
}

// writeFlags lists flags as tagged paragraphs: "-o, --output=string".
func writeFlags(b *strings.Builder, flags *pflag.FlagSet) {
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		varname, usage := pflag.UnquoteUsage(f)
		tag := `\fB\-\-` + roffText(f.Name) + `\fR`
		if f.Shorthand != "" {
			tag = `\fB\-` + roffText(f.Shorthand) + `\fR, ` + tag
		}
		if varname != "" && f.Value.Type() != "bool" {
			tag += `=\fI` + roffText(varname) + `\fR`
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "[]" && def != "0s" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(b, ".TP\n%s\n%s\n", tag, roffText(usage))
	})
}

// roffBlock renders help text: paragraphs split by blank lines; a
// paragraph whose lines are indented is kept as it is laid out.
func roffBlock(text string) string {
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		para = strings.Trim(para, "\n")
		if para == "" {
			continue
		}
		lines := strings.Split(para, "\n")
		indented := true
		for _, l := range lines {
			if !strings.HasPrefix(l, " ") {
				indented = false
			}
		}
		switch {
		case indented:
			b.WriteString(".PP\n.RS 4\n.nf\n")
			for _, l := range lines {
				b.WriteString(roffLine(strings.TrimPrefix(l, "  ")) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
		case len(lines) > 1 && strings.HasSuffix(lines[0], ":") && strings.HasPrefix(lines[1], " "):
			// A heading line, then a list: "Exit codes:\n  0  success".
			b.WriteString(".PP\n" + roffText(lines[0]) + "\n.RS 4\n.nf\n")
			for _, l := range lines[1:] {
				b.WriteString(roffLine(strings.TrimPrefix(l, "  ")) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
		default:
			b.WriteString(".PP\n")
			for _, l := range lines {
				b.WriteString(roffText(strings.TrimSpace(l)) + "\n")
			}
		}
	}
	return b.String()
}

// roffText escapes text for roff: backslashes and dashes, and a line that
// would start with a control character.
func roffText(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, roffLine(l))
	}
	return strings.Join(lines, "\n")
}

func roffLine(l string) string {
	l = strings.ReplaceAll(l, `\`, `\e`)
	l = strings.ReplaceAll(l, "-", `\-`)
	if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
		l = `\&` + l
	}
	return l
}
