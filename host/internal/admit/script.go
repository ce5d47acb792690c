package admit

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/internal/identity"
	"github.com/bgjob/bgjob/host/internal/safepath"
	"github.com/bgjob/bgjob/host/store"
	"github.com/bgjob/bgjob/sdk"
)

// CheckDir checks that dir can be a job's working directory, looking as
// the job's user id (nil: the host's user) looks: a system host that
// looked as root told any user which paths exist in folders they may not
// read ("does not exist", "is not a directory").
func CheckDir(dir string, id *store.Identity) error {
	return identity.AsUser(id, func() error { return checkDir(dir) })
}

func checkDir(dir string) error {
	if dir == "" {
		return errkind.Errorf(errkind.ErrBadRequest, "no working directory given")
	}
	if !filepath.IsAbs(dir) {
		return errkind.Errorf(errkind.ErrBadRequest, "the working directory %q is not an absolute path", dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errkind.Errorf(errkind.ErrBadRequest, "the working directory %s does not exist", dir)
	case err != nil:
		return errkind.Errorf(errkind.ErrBadRequest, "cannot use the working directory: %w", err)
	case !fi.IsDir():
		return errkind.Errorf(errkind.ErrBadRequest, "the working directory %s is not a directory", dir)
	}
	return nil
}

// prepare checks a script request and reads the files it names with the
// file access of id (nil: the host's), the caller's (identity.Reader): a
// system host runs as root, and the paths are the caller's to choose.
func prepare(req *api.StartRequest, id *store.Identity) (*sdk.Job, string, error) {
	if len(req.Input) > api.MaxInput {
		return nil, "", errkind.Errorf(errkind.ErrBadRequest, "the job's input is %d bytes; at most %d (64 MiB) are accepted: give the job a path to read instead", len(req.Input), api.MaxInput)
	}
	sp := &sdk.Job{Args: req.Args, Input: req.Input, Script: req.Script, Init: req.Init, MergeError: req.MergeError, StdinOpen: req.StdinOpen}
	sources := 0
	for _, s := range []string{req.Script, req.File, req.LiteralPath} {
		if s != "" {
			sources++
		}
	}
	switch {
	case sources == 0 || sources == 1 && req.Script != "" && strings.TrimSpace(req.Script) == "":
		return nil, "", errkind.Errorf(errkind.ErrBadRequest, "the script is empty: give a command to run, a script, or --file PATH")
	case sources > 1:
		return nil, "", errkind.Errorf(errkind.ErrBadRequest, "give exactly one of a script, --file or --literal-path")
	}
	cmd := req.Script
	err := identity.AsUser(id, func() error {
		var err error
		switch {
		case req.File != "":
			path, err := globOne(req.File, req.Workdir)
			if err != nil {
				return err
			}
			if sp.Script, err = readScript("the script file", path); err != nil {
				return err
			}
			cmd = path
		case req.LiteralPath != "":
			path := absIn(req.LiteralPath, req.Workdir)
			if sp.Script, err = readScript("the script file", path); err != nil {
				return err
			}
			cmd = path
		}
		if req.Init != "" && req.InitFile != "" {
			return errkind.Errorf(errkind.ErrBadRequest, "give --init or --init-file, not both")
		}
		if req.InitFile != "" {
			if sp.Init, err = readScript("the --init-file", absIn(req.InitFile, req.Workdir)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	// The command is the script text (or its file), never its arguments,
	// as PowerShell's Command property is; get --command matches it.
	if req.Command != "" {
		cmd = req.Command
	}
	return sp, BoundCommand(cmd), nil
}

// maxCommand bounds the command a row shows: an inline script of any size
// runs whole, but its row keeps the first 64 KiB of it for display.
const maxCommand = 64 << 10

// BoundCommand is cmd as a row shows it: cut (at a character, marked
// with an ellipsis) if longer than maxCommand.
func BoundCommand(cmd string) string {
	if len(cmd) <= maxCommand {
		return cmd
	}
	cut := maxCommand
	for cut > 0 && !utf8.RuneStart(cmd[cut]) {
		cut--
	}
	return cmd[:cut] + " …"
}

func absIn(path, dir string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// globOne expands pattern (relative to dir) and insists on one match, as
// Start-Job -FilePath does.
func globOne(pattern, dir string) (string, error) {
	full := absIn(pattern, dir)
	matches, err := filepath.Glob(full)
	if err != nil {
		return "", errkind.Errorf(errkind.ErrBadRequest, "bad --file pattern %q: %w", pattern, err)
	}
	switch len(matches) {
	case 0:
		return "", errkind.Errorf(errkind.ErrBadRequest, "no file matches %s", full)
	case 1:
		return matches[0], nil
	default:
		if len(matches) > 5 {
			matches = append(matches[:5], "...")
		}
		return "", errkind.Errorf(errkind.ErrBadRequest, "--file %s matches %d files (%s); it must match exactly one, or use --literal-path", pattern, len(matches), strings.Join(matches, ", "))
	}
}

// readScript reads a script file (what names it in errors: "the script
// file", "the --init-file"), which must be a regular file: a named
// pipe or a device would block the call (and hold the caller's output open)
// for as long as nothing writes to it. The file is opened without blocking
// and checked as opened, so swapping in a pipe after a check changes
// nothing.
func readScript(what, path string) (string, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", errkind.Errorf(errkind.ErrBadRequest, "%s %s does not exist", what, path)
		}
		return "", errkind.Errorf(errkind.ErrBadRequest, "cannot read %s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", errkind.Errorf(errkind.ErrBadRequest, "cannot read %s: %w", what, err)
	}
	switch {
	case fi.IsDir():
		return "", errkind.Errorf(errkind.ErrBadRequest, "%s %s is a directory", what, path)
	case !fi.Mode().IsRegular():
		return "", errkind.Errorf(errkind.ErrBadRequest, "%s %s is %s, not a regular file; give a file, or pass the script inline", what, path, safepath.Kind(fi.Mode()))
	case fi.Size() > MaxScript:
		return "", errkind.Errorf(errkind.ErrBadRequest, "%s %s has %d bytes; at most %d are accepted", what, path, fi.Size(), MaxScript)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxScript+1))
	if err != nil {
		return "", errkind.Errorf(errkind.ErrBadRequest, "cannot read %s: %w", what, err)
	}
	return string(b), nil
}

// MaxScript bounds a script file.
const MaxScript = 16 << 20
