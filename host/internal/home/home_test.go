package home

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// A host's Close removes its own pid file, and leaves the one a host that
// took the home as the table's lock was given back has written.
func TestCloseRemovesOnlyItsPidFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		other   bool // a new host's pid file is there at Close
		wantPid string
	}{
		{"own", false, ""},
		{"a new host's", true, "4242\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "home")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			h, err := Open(dir, false, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			pidFile := filepath.Join(dir, "host.pid")
			b, err := os.ReadFile(pidFile)
			if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
				t.Fatalf("host.pid after Open: %q, %v", b, err)
			}
			if tc.other {
				if err := os.WriteFile(pidFile, []byte(tc.wantPid), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			b, err = os.ReadFile(pidFile)
			switch {
			case tc.wantPid == "" && !os.IsNotExist(err):
				t.Errorf("host.pid after Close: %q, %v; want it removed", b, err)
			case tc.wantPid != "" && string(b) != tc.wantPid:
				t.Errorf("the new host's host.pid after Close: %q, %v; want %q kept", b, err, tc.wantPid)
			}
		})
	}
}
