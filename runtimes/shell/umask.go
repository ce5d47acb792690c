package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/interp"
)

var errNoUmask = errors.New("there is no file mode creation mask on this system")

// umaskBuiltin is the shell's umask, which the interpreter does not have:
// `umask` prints the file mode creation mask in octal, `umask -S` in
// symbols, `umask MODE` sets it from an octal MODE. The mask is the job's
// own, not the process's, which may run other jobs (thread jobs): the
// files the job creates, and the commands it starts after a change, get
// it, as in any shell, and no other job does.
func umaskBuiltin(s *session, _ context.Context, hc interp.HandlerContext, args []string) error {
	symbolic := false
	if len(args) > 0 && args[0] == "-S" {
		symbolic, args = true, args[1:]
	}
	if !haveUmask {
		fmt.Fprintf(hc.Stderr, "umask: %v\n", errNoUmask)
		return interp.ExitStatus(1)
	}
	switch len(args) {
	case 0:
		m := s.umask.Load()
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
		s.umask.Store(uint32(m))
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

// open is the interpreter's open handler (redirections): a file it creates
// gets the job's mask. An open that creates nothing needs no mask, and is
// done without one: opening a fifo waits for the other end, which may be
// a command the job has yet to start, and starting it needs the mask.
func (s *session) open(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	open := interp.DefaultOpenHandler()
	if flag&os.O_CREATE == 0 {
		return open(ctx, path, flag, perm)
	}
	for try := 0; ; try++ {
		if flag&os.O_EXCL == 0 {
			f, err := open(ctx, path, flag&^os.O_CREATE, perm)
			if !errors.Is(err, fs.ErrNotExist) {
				return f, err
			}
		}
		// Nothing is there: create it, exclusively, so that what
		// appeared meanwhile (a fifo, whose open would wait with
		// the mask held) is opened by the next turn instead. A
		// dangling symlink fails O_EXCL every time; its target is
		// created as any shell does, after a turn or two.
		create := flag | os.O_EXCL
		if try >= 2 {
			create = flag
		}
		var f io.ReadWriteCloser
		var err error
		withUmask(s.umask.Load(), func() { f, err = open(ctx, path, create, perm) })
		if flag&os.O_EXCL != 0 || !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
}
