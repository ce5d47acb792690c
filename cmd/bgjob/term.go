package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/bgjob/bgjob/host/api"
	"golang.org/x/term"
)

// colorMode is --color: auto (colour on a terminal unless NO_COLOR is
// set), always or never.
var colorMode = "auto"

func checkColorMode() error {
	switch colorMode {
	case "auto", "always", "never":
		return nil
	}
	return api.Errorf(api.ExitUsage, "--color wants auto, always or never, not %q", colorMode)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// terminal describes the caller's terminal for the host, or nil when
// there is nothing to adapt to (a pipe, a file): then the output is plain.
// Progress bars are drawn for a call that follows jobs (streams is true)
// when stderr is a terminal.
func terminal(streams bool) *api.Terminal {
	t := &api.Terminal{}
	errTTY := isTerminal(os.Stderr)
	switch colorMode {
	case "always":
		t.Color = true
	case "auto":
		t.Color = errTTY && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	}
	if isTerminal(os.Stdout) {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
			t.Width = w
		}
	}
	t.Progress = streams && errTTY && os.Getenv("TERM") != "dumb"
	if !t.Color && t.Width == 0 && !t.Progress {
		return nil
	}
	return t
}

// follows reports whether req streams jobs' text until they end: the
// calls that draw progress and that Ctrl-C ends in their own way.
func follows(req *api.Request) bool {
	return req.Wait && req.Output != api.FormatJSON && (req.Op == api.OpStart || req.Op == api.OpReceive)
}

// interrupted says what Ctrl-C left: start --wait's job is stopped and
// removed by the host (it was in the foreground); receive --wait's jobs go
// on, and are named so the user can come back to them.
func interrupted(req *api.Request) {
	if req.Op == api.OpStart {
		fmt.Fprintln(os.Stderr, "bgjob: interrupted; the job is being stopped and removed")
		return
	}
	c, err := connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgjob: stopped receiving; the jobs go on ('bgjob get' lists them)")
		return
	}
	defer c.Close()
	var out strings.Builder
	var running []api.Job
	if code, err := c.Do(&api.Request{Op: api.OpGet, Jobs: req.Jobs, Output: api.FormatJSON}, &out, os.Stderr); err == nil && code == 0 {
		for _, j := range decodeJobs(out.String()) {
			if !j.State.Finished() {
				running = append(running, j)
			}
		}
	}
	fmt.Fprintln(os.Stderr, "bgjob: "+stillRunning(running))
}

// stillRunning is what a receive --wait cut short says of the jobs that
// go on: which they are, and the command that goes on receiving them.
func stillRunning(jobs []api.Job) string {
	if len(jobs) == 0 {
		return "stopped receiving"
	}
	var names, ids []string
	for _, j := range jobs {
		names = append(names, fmt.Sprintf("%d (%s)", j.ID, j.Name))
		ids = append(ids, fmt.Sprint(j.ID))
	}
	verb := "job %s is still running"
	if len(jobs) > 1 {
		verb = "jobs %s are still running"
	}
	return fmt.Sprintf("stopped receiving; "+verb+"; to go on receiving, run: bgjob receive --wait %s", strings.Join(names, ", "), strings.Join(ids, " "))
}

// decodeJobs reads `get -o json` output; nothing if it cannot.
func decodeJobs(s string) []api.Job {
	var js []api.Job
	_ = json.Unmarshal([]byte(s), &js)
	return js
}
