package identity

import (
	"errors"
	"os/user"
	"slices"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/hashicorp/go-hclog"
)

// A job's environment: the caller's own job keeps the caller's environment
// (with the account's names on a system host); a job run as someone else
// starts from nothing but the names, a plain PATH, the locale and terminal,
// and --env.
func TestJobEnv(t *testing.T) {
	alice := Caller{UID: 1001, GID: 1001, Name: "alice"}
	aliceAcct := &Account{Name: "alice", Home: "/home/alice", Shell: "/bin/bash", UID: 1001, GID: 1001}
	bobAcct := &Account{Name: "bob", Home: "/home/bob", Shell: "/bin/sh", UID: 1002, GID: 1002}
	env := []string{"PATH=/opt/x/bin:/usr/bin", "HOME=/somewhere", "USER=alias", "SECRET=1", "LANG=nl_NL.UTF-8", "LC_TIME=C", "TERM=xterm", "TZ=UTC"}
	add := []string{"EXTRA=2"}
	tests := []struct {
		name   string
		acct   *Account
		system bool
		want   []string
	}{
		{name: "own host, own job", acct: aliceAcct, want: append(slices.Clone(env), add...)},
		{name: "own host, no account", acct: nil, system: true, want: append(slices.Clone(env), add...)},
		{name: "system host, own job", acct: aliceAcct, system: true, want: []string{
			"PATH=/opt/x/bin:/usr/bin", "SECRET=1", "LANG=nl_NL.UTF-8", "LC_TIME=C", "TERM=xterm", "TZ=UTC",
			"HOME=/home/alice", "USER=alice", "LOGNAME=alice", "SHELL=/bin/bash", "EXTRA=2"}},
		{name: "system host, another user", acct: bobAcct, system: true, want: []string{
			"LANG=nl_NL.UTF-8", "LC_TIME=C", "TERM=xterm", "TZ=UTC", "PATH=/usr/local/bin:/usr/bin:/bin",
			"HOME=/home/bob", "USER=bob", "LOGNAME=bob", "SHELL=/bin/sh", "EXTRA=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JobEnv(alice, tt.acct, tt.system, slices.Clone(env), add)
			if !slices.Equal(got, tt.want) {
				t.Errorf("JobEnv\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// RunAs refuses, with the reason and the kind of error the CLI turns into
// its exit code, what it cannot do; and lets root run a job as anyone on
// the system host, but not on its own.
func TestRunAs(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip("no current user:", err)
	}
	caller := Self()
	h := New(Config{Self: caller, Log: hclog.NewNullLogger()})
	other := "root"
	if caller.Root() {
		other = "nobody"
		if _, err := user.Lookup(other); err != nil {
			t.Skip("no user nobody to run as")
		}
	}
	type refusal struct {
		name string
		req  api.StartRequest
		kind error
		want string
	}
	tests := []refusal{
		{name: "unknown mechanism", req: api.StartRequest{Authentication: "Magic"}, kind: ErrBadRequest, want: `unknown --authentication "Magic"`},
		{name: "unsupported mechanism", req: api.StartRequest{Authentication: "kerberos"}, kind: ErrBadRequest, want: "--authentication kerberos is not supported here"},
		{name: "unknown user", req: api.StartRequest{Credential: "bgjob-no-such-user"}, kind: ErrBadRequest, want: `there is no user "bgjob-no-such-user"`},
	}
	// A user's own host, root's too, is not the system host.
	tests = append(tests, refusal{name: "a user's host", req: api.StartRequest{Credential: other, Password: "x"}, kind: ErrBadRequest, want: "needs the system host"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := h.RunAs(caller, &tt.req)
			if !errors.Is(err, tt.kind) || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RunAs: %v, want %v saying %q", err, tt.kind, tt.want)
			}
		})
	}
	// Default and Basic are the password check: accepted for oneself.
	for _, mech := range []string{"", "Default", "basic"} {
		id, acct, err := h.RunAs(caller, &api.StartRequest{Authentication: mech})
		if err != nil || id != nil || acct == nil || acct.Name != me.Username {
			t.Errorf("RunAs oneself with %q: %v %v %+v", mech, err, id, acct)
		}
	}
	if caller.Root() {
		sys := New(Config{System: true, Self: Self(), Log: hclog.NewNullLogger()})
		id, acct, err := sys.RunAs(caller, &api.StartRequest{Credential: other})
		if err != nil || id == nil || acct.Name != other || id.UID != acct.UID || id.GID != acct.GID {
			t.Errorf("root runs a job as %s: %v %+v %+v", other, err, id, acct)
		}
	}
}

// Without a password, or without a checker, a password check is refused
// as not allowed, saying what is missing; no helper is run.
func TestCheckPasswordRefusals(t *testing.T) {
	caller := Caller{UID: 1001, Name: "alice"}
	missing := New(Config{Log: hclog.NewNullLogger(), AuthHelper: "/nonexistent/bgjob-auth"})
	none := New(Config{Log: hclog.NewNullLogger()})
	tests := []struct {
		name string
		h    *Resolver
		pw   string
		want string
	}{
		{"no password", missing, "", "needs bob's password"},
		{"no checker", none, "pw", "cannot check passwords"},
		{"checker missing", missing, "pw", "/nonexistent/bgjob-auth"},
	}
	for _, tt := range tests {
		err := tt.h.checkPassword(caller, "bob", tt.pw)
		if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrDenied saying %q", tt.name, err, tt.want)
		}
	}
}
