package identity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/errkind"
	"github.com/bgjob/bgjob/host/store"
	"github.com/hashicorp/go-hclog"
)

// The kinds of error this package returns: errkind's, which host
// re-exports (identity.ErrDenied is host.ErrDenied).
var (
	ErrBadRequest = errkind.ErrBadRequest
	ErrDenied     = errkind.ErrDenied
)

func errorf(kind error, format string, args ...any) error {
	return errkind.Errorf(kind, format, args...)
}

// Config is what a Resolver needs of the host.
type Config struct {
	// System: this is the system host, which alone runs jobs as other
	// users (host.Options.System).
	System bool
	// Self is the host process's own user: a job run as it needs no
	// identity of its own.
	Self Caller
	// AuthHelper is the password checker bgjob-auth ("": none), and
	// PAMConfDir the PAM configuration directory it is given ("": the
	// system's) (host.Options.AuthHelper, PAMConfDir).
	AuthHelper, PAMConfDir string
	// Log hears of failed password checks (nil: nothing does).
	Log hclog.Logger
}

// Resolver decides whom a job runs as (RunAs); it keeps one password check
// at a time per caller. It is safe for concurrent use.
type Resolver struct {
	cfg    Config
	authMu sync.Mutex
	auths  map[uint32]*sync.Mutex // one password check at a time per caller
}

// New returns a Resolver for the host cfg describes.
func New(cfg Config) *Resolver {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	return &Resolver{cfg: cfg}
}

// Account is a user a job runs as.
type Account struct {
	Name, Home, Shell string
	UID, GID          uint32
	Groups            []uint32
}

// Authentication mechanisms PowerShell's -Authentication names, and what
// each means here: Default and Basic are a password checked by the
// machine's own accounts (PAM); the others need a domain this host does
// not have.
var authentications = map[string]bool{
	"default": true, "basic": true,
	"negotiate": false, "negotiatewithimplicitcredential": false, "credssp": false, "digest": false, "kerberos": false,
}

// RunAs decides whom a job runs as and checks that the caller may have it
// so: a job runs as its submitter unless --credential names another user,
// which needs the system host, and a root caller or that user's password.
// It returns the identity to launch with (nil: the host's own) and the
// account.
func (r *Resolver) RunAs(caller Caller, req *api.StartRequest) (*store.Identity, *Account, error) {
	if req.Credential != "" && runtime.GOOS == "windows" {
		return nil, nil, errorf(ErrBadRequest, "--credential is not supported on Windows: a job there runs as the user whose host it is, and there is no system host")
	}
	if mech := req.Authentication; mech != "" {
		supported, known := authentications[strings.ToLower(mech)]
		switch {
		case !known:
			return nil, nil, errorf(ErrBadRequest, "unknown --authentication %q; the mechanisms are Default, Basic, Negotiate, NegotiateWithImplicitCredential, Credssp, Digest and Kerberos", mech)
		case !supported:
			return nil, nil, errorf(ErrBadRequest, "--authentication %s is not supported here: this host checks a local user's password, which is Default or Basic", mech)
		}
	}
	name := req.Credential
	if name == "" {
		name = caller.Name
	}
	acct, err := LookupAccount(name)
	if err != nil {
		var none noUserError
		if errors.As(err, &none) && req.Credential != "" && r.canSwitchUsers() && !caller.Root() {
			return nil, nil, r.refuseUnknown(caller, name, req.Password)
		}
		return nil, nil, err
	}
	if acct.UID != caller.UID {
		if !r.canSwitchUsers() {
			return nil, nil, errorf(ErrBadRequest, "running a job as another user (%s) needs the system host, which runs as root: start it with 'bgjob host --system' (as root, or 'systemctl start bgjob'), and reach it with 'bgjob --system ...' or BGJOB_SOCKET=%s", name, api.SystemSocket)
		}
		if !caller.Root() {
			if err := r.checkPassword(caller, acct.Name, req.Password); err != nil {
				return nil, nil, err
			}
		}
	}
	if acct.UID == r.cfg.Self.UID {
		return nil, acct, nil
	}
	return &store.Identity{UID: acct.UID, GID: acct.GID, Groups: acct.Groups}, acct, nil
}

// canSwitchUsers: only the system host runs jobs as other users. Root's
// own host is not it: it serves root alone, keeps its state in root's home
// (which no other user's runtime can reach), and a job there as another
// user could only fail; like any user's own host, it names the system host.
func (r *Resolver) canSwitchUsers() bool { return r.cfg.System }

// refuseUnknown answers a user's --credential of an account that does not
// exist as a wrong password is answered, after the same check and the same
// delay, so that the system host tells no one but root (who reads the
// account files anyway) which user names exist.
func (r *Resolver) refuseUnknown(caller Caller, name, password string) error {
	if err := r.checkPassword(caller, name, password); err != nil {
		return err
	}
	// The check cannot accept a user that does not exist; should a PAM
	// stack say otherwise, the answer is the same.
	time.Sleep(authFailDelay)
	return errorf(ErrDenied, "the password for %s was not accepted", name)
}

// LookupAccount finds a user by name.
func LookupAccount(name string) (*Account, error) {
	return users.account(name, readAccount)
}

func readAccount(name string) (*Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, &errkind.Error{Kind: ErrBadRequest, Err: noUserError{name}}
		}
		return nil, errorf(ErrBadRequest, "cannot look up user %q: %w", name, err)
	}
	// Windows names users by SID: no uid, and the name tells them apart.
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if (err1 != nil || err2 != nil) && runtime.GOOS != "windows" {
		return nil, errorf(ErrBadRequest, "user %q has no numeric uid and gid here", name)
	}
	a := &Account{Name: u.Username, Home: u.HomeDir, UID: uint32(uid), GID: uint32(gid), Shell: loginShell(u.Username)}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			a.Groups = append(a.Groups, uint32(n))
		}
	}
	return a, nil
}

// noUserError: the account a request names does not exist.
type noUserError struct{ name string }

func (e noUserError) Error() string {
	return fmt.Sprintf("there is no user %q on this machine", e.name)
}

// loginShell is the user's shell from /etc/passwd (os/user does not say);
// /bin/sh if it cannot be found.
func loginShell(name string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 7 && fields[0] == name && fields[6] != "" {
			return fields[6]
		}
	}
	return "/bin/sh"
}

// authFailDelay is what a wrong password costs: one caller's attempts
// take turns, each failure this long, so guessing is slow.
const authFailDelay = 2 * time.Second

// checkPassword proves the caller knows name's password, with the helper
// (PAM in a process of its own). The password goes to the helper's stdin,
// never to a file, an argument or the job.
func (r *Resolver) checkPassword(caller Caller, name, password string) error {
	if password == "" {
		return errorf(ErrDenied, "running a job as %s needs %s's password: bgjob asks for it on a terminal, or reads it with --password-stdin", name, name)
	}
	helper := r.cfg.AuthHelper
	if helper == "" {
		return errorf(ErrDenied, "this host cannot check passwords (it was started without the password checker bgjob-auth, which needs PAM); as root, --credential works without one")
	}
	if _, err := os.Stat(helper); err != nil {
		return errorf(ErrDenied, "this host cannot check passwords: %v (bgjob-auth is built where PAM's headers are installed: apt-get install libpam0g-dev, then make build); as root, --credential works without one", err)
	}
	lock := r.authLock(caller.UID)
	lock.Lock()
	defer lock.Unlock()
	args := []string{}
	if r.cfg.PAMConfDir != "" {
		args = append(args, "-confdir", r.cfg.PAMConfDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, helper, append(args, name)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdin = strings.NewReader(password)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		r.cfg.Log.Warn("a password check failed", "caller", caller.Name, "user", name)
		time.Sleep(authFailDelay)
		return errorf(ErrDenied, "the password for %s was not accepted", name)
	default:
		return errorf(ErrDenied, "cannot check the password for %s: %v %s", name, err, strings.TrimSpace(out.String()))
	}
}

func (r *Resolver) authLock(uid uint32) *sync.Mutex {
	r.authMu.Lock()
	defer r.authMu.Unlock()
	if r.auths == nil {
		r.auths = map[uint32]*sync.Mutex{}
	}
	if r.auths[uid] == nil {
		r.auths[uid] = &sync.Mutex{}
	}
	return r.auths[uid]
}

// JobEnv is the environment of a job that runs as acct, started by caller
// with the environment env and the additions add. A job of the caller's own
// gets the caller's environment, as a command run from the caller's shell
// would, with the account's HOME, USER, LOGNAME and SHELL; a job run as
// another user gets a fresh one of those, a plain PATH and the caller's
// locale and terminal, not the rest of the caller's environment.
func JobEnv(caller Caller, acct *Account, system bool, env, add []string) []string {
	if acct == nil || (!system && acct.UID == caller.UID) {
		return append(env, add...)
	}
	keep := env
	if acct.UID != caller.UID {
		keep = nil
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			if k == "TERM" || k == "LANG" || k == "TZ" || strings.HasPrefix(k, "LC_") {
				keep = append(keep, kv)
			}
		}
		keep = append(keep, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	out := []string{}
	for _, kv := range keep {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "USER", "LOGNAME", "SHELL":
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+acct.Home, "USER="+acct.Name, "LOGNAME="+acct.Name, "SHELL="+acct.Shell)
	if !hasKey(out, "PATH") {
		out = append(out, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return append(out, add...)
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// CheckWorkdir makes sure acct can enter dir, before a job exists: as that
// user, a shell changes into it (as the host's own user, access(2)).
func CheckWorkdir(acct *Account, id *store.Identity, dir string) error {
	if id == nil {
		// The job runs as the host's own user: a directory it cannot
		// enter would fail the job at its start; say so before it exists.
		if err := enterSelf(dir); err != nil {
			return errorf(ErrBadRequest, "cannot enter the working directory %s: %v; choose one you may use, or give yourself access", dir, err)
		}
		return nil
	}
	ok, err := enterAs(id, dir)
	if err != nil {
		return errorf(ErrBadRequest, "cannot check that %s may use the working directory %s: %w", acct.Name, dir, err)
	}
	if !ok {
		return errorf(ErrBadRequest, "user %s cannot enter the working directory %s; choose one they may use, or give them access", acct.Name, dir)
	}
	return nil
}

// Reader is whose file access reads the files a caller's request names (a
// start's script files): the caller's own. The caller named them, and
// their contents travel in the job's payload, so the caller's access is
// the limit whoever the job runs as: root reads as root (nil, the host's
// own, as for any caller who is the host's user), and a user on the system
// host reads as themselves, with their groups as they are now.
func (r *Resolver) Reader(c Caller) (*store.Identity, error) {
	if c.UID == r.cfg.Self.UID {
		return nil, nil
	}
	return Now(c.Name, &store.Identity{UID: c.UID, GID: c.GID})
}

// Now is the identity user runs with as the machine says now, for a job
// or hook that was recorded as id, perhaps hours ago (--at, --after, a
// retry, an on-end hook): the account's groups today, so that a user taken
// out of a group, or gone, does not run with what they had. A name that no
// longer has id's uid is refused.
func Now(user string, id *store.Identity) (*store.Identity, error) {
	acct, err := LookupAccount(user)
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot look up user %s (uid %d): %w", user, id.UID, err)
	case acct.UID != id.UID:
		return nil, fmt.Errorf("%s is no longer uid %d on this machine (now %d)", user, id.UID, acct.UID)
	}
	return &store.Identity{UID: acct.UID, GID: acct.GID, Groups: acct.Groups}, nil
}
