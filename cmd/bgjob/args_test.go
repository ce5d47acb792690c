package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/spf13/cobra"
)

func TestNeedJobs(t *testing.T) {
	root := &cobra.Command{Use: "bgjob"}
	for _, tt := range []struct{ name, verb string }{
		{"receive", "receive from"}, {"wait", "wait for"}, {"stop", "stop"}, {"remove", "remove"},
	} {
		cmd := &cobra.Command{Use: tt.name + " JOB...", Run: func(*cobra.Command, []string) {}}
		root.AddCommand(cmd)
		var errb bytes.Buffer
		cmd.SetErr(&errb)
		check := needJobs(tt.verb)
		if err := check(cmd, []string{"1"}); err != nil || errb.Len() > 0 {
			t.Errorf("%s 1: %v, %q", tt.name, err, errb.String())
		}
		err := check(cmd, nil)
		var silent *silentError
		if !errors.As(err, &silent) || silent.code != api.ExitUsage {
			t.Errorf("%s without jobs: %v, want exit code 2 with the message printed", tt.name, err)
		}
		want := "bgjob " + tt.name + ": give the jobs to " + tt.verb + " (an id, a name, a wildcard or an instance id); 'bgjob get' lists them\n"
		if errb.String() != want {
			t.Errorf("%s without jobs said %q, want %q", tt.name, errb.String(), want)
		}
	}
}

// As a user meets it: before any host is asked (none is started).
func TestNeedJobsCLI(t *testing.T) {
	home, _ := isolate(t)
	t.Setenv("BGJOB_HOSTD", "/nonexistent/bgjobd")
	code, out, errs := runCLI(t, "receive")
	if code != api.ExitUsage || out != "" || !strings.HasPrefix(errs, "bgjob receive: give the jobs to receive from (") {
		t.Errorf("receive: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("receive without jobs made the home (%v): it asked a host", err)
	}
}
