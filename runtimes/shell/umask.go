package shell

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/interp"
)

// umaskBuiltin is the shell's umask, which the interpreter does not have:
// `umask` prints the file mode creation mask in octal, `umask -S` in
// symbols, `umask MODE` sets it from an octal MODE. The mask is the runtime
// process's own, which runs this one job, so commands the job starts after
// a change inherit it, as in any shell.
func umaskBuiltin(_ *session, _ context.Context, hc interp.HandlerContext, args []string) error {
	symbolic := false
	if len(args) > 0 && args[0] == "-S" {
		symbolic, args = true, args[1:]
	}
	switch len(args) {
	case 0:
		m, err := getUmask()
		if err != nil {
			fmt.Fprintf(hc.Stderr, "umask: %v\n", err)
			return interp.ExitStatus(1)
		}
		if symbolic {
			fmt.Fprintln(hc.Stdout, umaskSymbols(m))
		} else {
			fmt.Fprintf(hc.Stdout, "%04o\n", m)
		}
		return nil
	case 1:
		m, err := strconv.ParseUint(args[0], 8, 32)
		if err != nil || m > 0o777 {
			return fail(hc, "umask", "%s: not an octal mode from 000 to 777 (symbolic modes are not supported)", args[0])
		}
		if err := setUmask(uint32(m)); err != nil {
			fmt.Fprintf(hc.Stderr, "umask: %v\n", err)
			return interp.ExitStatus(1)
		}
		return nil
	}
	return fail(hc, "umask", "usage: umask [-S] [MODE]")
}

// umaskSymbols is mask m as `umask -S` shows it: what it lets through.
func umaskSymbols(m uint32) string {
	var b strings.Builder
	for i, who := range []string{"u", "g", "o"} {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(who + "=")
		allowed := ^m >> (3 * (2 - i)) & 7
		for j, c := range "rwx" {
			if allowed&(4>>j) != 0 {
				b.WriteRune(c)
			}
		}
	}
	return b.String()
}
