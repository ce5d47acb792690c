//go:build unix

package identity

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/hashicorp/go-hclog"
)

// On the system host, a user naming an account that does not exist is
// answered as a wrong password is: the checker runs, the same words, the
// same kind. Root is told the account does not exist.
func TestRunAsUnknownUser(t *testing.T) {
	known := "root"
	if _, err := user.Lookup(known); err != nil {
		t.Skip("no user root to name")
	}
	// A checker that accepts no password, and notes each time it is asked.
	dir := t.TempDir()
	asked := filepath.Join(dir, "asked")
	helper := filepath.Join(dir, "bgjob-auth")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\necho \"$@\" >> "+asked+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := New(Config{System: true, Self: Self(), Log: hclog.NewNullLogger(), AuthHelper: helper})
	alice := Caller{UID: 64999, GID: 64999, Name: "bgjob-test-alice"}
	answer := func(name string) string {
		_, _, err := h.RunAs(alice, &api.StartRequest{Credential: name, Password: "guess"})
		if !errors.Is(err, ErrDenied) {
			t.Fatalf("--credential %s with a wrong password: %v, want ErrDenied", name, err)
		}
		return strings.ReplaceAll(err.Error(), name, "USER")
	}
	const unknown = "bgjob-no-such-user"
	if k, u := answer(known), answer(unknown); k != u {
		t.Errorf("an unknown user is answered %q, a wrong password %q", u, k)
	}
	if b, _ := os.ReadFile(asked); strings.Count(string(b), "\n") != 2 || !strings.Contains(string(b), unknown) {
		t.Errorf("the checker was asked %q, want once for each user", b)
	}
	root := Caller{UID: 0, GID: 0, Name: "root"}
	if _, _, err := h.RunAs(root, &api.StartRequest{Credential: unknown}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), `there is no user "`+unknown+`"`) {
		t.Errorf("root's --credential of an unknown user: %v", err)
	}
}
