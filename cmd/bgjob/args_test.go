package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

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

// get --before and --after read dates, times of day and ages in the
// caller's time zone.
func TestParseWhen(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 3, 5, 12, 30, 0, 0, loc)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-03-01", want: time.Date(2026, 3, 1, 0, 0, 0, 0, loc)},
		{in: "2026-03-01 14:05", want: time.Date(2026, 3, 1, 14, 5, 0, 0, loc)},
		{in: "2026-03-01T14:05:06", want: time.Date(2026, 3, 1, 14, 5, 6, 0, loc)},
		{in: "2026-03-01T14:05:06Z", want: time.Date(2026, 3, 1, 14, 5, 6, 0, time.UTC)},
		{in: "09:15", want: time.Date(2026, 3, 5, 9, 15, 0, 0, loc)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "1.5d", want: now.Add(-36 * time.Hour)},
		{in: "yesterday", bad: true},
		{in: "-2h", bad: true},
		{in: "", bad: true},
	} {
		got, err := parseWhen(tc.in, now)
		switch {
		case tc.bad && err == nil:
			t.Errorf("parseWhen(%q) = %v, want an error", tc.in, got)
		case !tc.bad && err != nil:
			t.Errorf("parseWhen(%q): %v", tc.in, err)
		case !tc.bad && !got.Equal(tc.want):
			t.Errorf("parseWhen(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
