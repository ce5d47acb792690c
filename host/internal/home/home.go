// Package home prepares a host's home directory and opens what it keeps
// there: the job table (jobs.db), the journal and the cursors. It checks
// the folders above the home and the home itself as ssh checks a user's
// files, so that a home someone else could write is refused before
// anything is written there.
package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/atomicfile"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/store"
	"github.com/hashicorp/go-hclog"
)

// Home is a host's home, checked and prepared, with its job table open.
type Home struct {
	Dir     string
	Store   *store.Store
	Journal *store.Journal
	Cursors *store.Cursors
	// Settings are the queue's stored limits and clean-up policy.
	Settings store.Settings
	// Notices say what was wrong and was repaired (a damaged job table
	// set aside, say), for the user to hear about.
	Notices []string

	lock *os.File // host.lock, held until Close (see lockHome)
}

// Open checks and prepares the home dir (a system host's lets its users
// reach their jobs' directories inside) and opens its job table, journal
// and cursors. A second host on the same home gets ErrHostRunning.
func Open(dir string, system bool, log hclog.Logger) (*Home, error) {
	// The folders above the home first: a home created in a folder
	// someone else may write could be swapped for theirs at once.
	if err := api.CheckHomeParents(dir); err != nil {
		return nil, errkind.WithKind(errkind.ErrBadRequest, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	// The home holds the socket: only its owner may reach it, and a home
	// someone else prepared is refused before anything is written there.
	if err := api.CheckHome(dir); err != nil {
		return nil, errkind.WithKind(errkind.ErrBadRequest, err)
	}
	// A system host's jobs run as their users, who must reach their own
	// socket directories and runtime logs inside (but list nothing).
	perm := os.FileMode(0o700)
	if system {
		perm = 0o711
	}
	for _, d := range []string{dir, filepath.Join(dir, "jobs"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, perm); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", d, err)
		}
		if err := os.Chmod(d, perm); err != nil {
			return nil, err
		}
	}
	// The launcher's own directory (see launch.Options.StateDir) is the
	// host's alone, on every host.
	if err := os.MkdirAll(filepath.Join(dir, "procs"), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", filepath.Join(dir, "procs"), err)
	}
	if err := os.Chmod(filepath.Join(dir, "procs"), 0o700); err != nil {
		return nil, err
	}
	lock, held, err := lockHome(dir)
	if err != nil {
		return nil, err
	}
	if held {
		return nil, errHostRunning(dir)
	}
	h, err := open(dir, log)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	h.lock = lock
	return h, nil
}

func errHostRunning(dir string) error {
	return errkind.Errorf(errkind.ErrHostRunning, "another bgjob host is already running on %s", dir)
}

// open opens the job table, journal and cursors of dir, whose lock the
// caller holds.
func open(dir string, log hclog.Logger) (*Home, error) {
	var notices []string
	dbPath := filepath.Join(dir, "jobs.db")
	st, err := store.Open(dbPath)
	if errors.Is(err, store.ErrLocked) {
		// A host of an older bgjob, which took no lock file.
		return nil, errHostRunning(dir)
	}
	if errors.Is(err, store.ErrCorrupt) {
		// One damaged table must not keep every job from being served:
		// it is set aside, never deleted, and the user is told.
		aside, aerr := store.SetAside(dbPath)
		if aerr != nil {
			return nil, fmt.Errorf("%w; %w", err, aerr)
		}
		notices = append(notices, fmt.Sprintf("the job table was damaged (%v); it was set aside as %s and a fresh one started, so the jobs it held are not listed", err, aside))
		log.Error("the job table was damaged; set aside", "err", err, "as", aside)
		st, err = store.Open(dbPath)
	}
	if err != nil {
		return nil, err
	}
	if n := st.Notice(); n != "" {
		notices = append(notices, n)
		log.Error("the job table's log was damaged", "notice", n)
	}
	// Scripts and tests find the host by this file; the home's lock, not
	// the file, is what keeps a second host out.
	if err := writePid(filepath.Join(dir, "host.pid")); err != nil {
		notices = append(notices, fmt.Sprintf("cannot write the host's pid file: %v; 'bgjob host stop' cannot find this host until it can", err))
		log.Error("cannot write the pid file", "err", err)
	}
	journal, err := store.OpenJournal(filepath.Join(dir, "journal"))
	if err != nil {
		st.Close()
		return nil, err
	}
	cursors := store.OpenCursors(journal, filepath.Join(dir, "cursors"))
	settings, err := st.Settings()
	if err != nil {
		// Unreadable settings must not keep the jobs from being served:
		// the defaults apply, and the user hears of it.
		notices = append(notices, fmt.Sprintf("%v; the queue's limits and clean-up policy are the defaults until 'bgjob queue' sets them again", err))
		settings = store.Settings{}
	}
	return &Home{Dir: dir, Store: st, Journal: journal, Cursors: cursors, Settings: settings, Notices: notices}, nil
}

// Close closes the journal and the job table and removes the pid file.
func (h *Home) Close() error {
	h.Journal.Close()
	// The table's last checkpoint first: on a full disk it must not take
	// the room the pid file leaves, which the next host needs for its own.
	err := h.Store.Close()
	// With the table's lock given back, a new host may have written its
	// own pid file already: only ours is removed.
	pidFile := filepath.Join(h.Dir, "host.pid")
	if b, rerr := os.ReadFile(pidFile); rerr == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(pidFile)
	}
	if h.lock != nil {
		h.lock.Close() // last: the next host may now open the home
	}
	return err
}

// writePid writes this process's pid to path, replacing the file whole. A
// host killed hard leaves its pid file behind, and on a full disk the new
// file cannot be made beside it: the old one is then written over in
// place, which takes no new room. (The home's lock is held: no other host
// writes it meanwhile.)
func writePid(path string) error {
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	err := atomicfile.Write(path, pid, 0o600)
	if err == nil {
		return nil
	}
	f, oerr := os.OpenFile(path, os.O_WRONLY|noFollow, 0)
	if oerr != nil {
		return err
	}
	defer f.Close()
	if _, werr := f.WriteAt(pid, 0); werr != nil {
		return err
	}
	if terr := f.Truncate(int64(len(pid))); terr != nil {
		return err
	}
	return nil
}
