//go:build unix

package server

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
	"github.com/bgjob/bgjob/host/internal/hosttest"
)

// Two progress records back to back reach the CLI as two progress
// records, and start --wait ends with the job's own status. (The reply
// used to merge them into one frame holding two JSON objects, which the
// CLI refused with exit 7, stopping and removing the job.)
func TestServeProgressBackToBack(t *testing.T) {
	th := fakeHost(t)
	serve(t, th)
	c, err := api.Dial(th.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var stdout, stderr bytes.Buffer
	var got []string
	code, err := c.DoProgress(&api.Request{Op: api.OpStart, Wait: true, Term: &api.Terminal{Progress: true},
		Start: &api.StartRequest{Script: "progress 10 copy; progress 20 copy; progress 30 copy; echo done; exit 5", Workdir: t.TempDir(), Env: hosttest.JobEnv}},
		&stdout, &stderr, func(p *api.Progress) { got = append(got, fmt.Sprintf("%s %d", p.Activity, p.Percent)) })
	if code != 5 {
		t.Errorf("start --wait: code %d (%v), want 5, the job's own status; stderr %q", code, err, stderr.String())
	}
	if strings.Join(got, ",") != "copy 10,copy 20,copy 30" {
		t.Errorf("progress shown: %q, want all three records", got)
	}
	if stdout.String() != "done\n" {
		t.Errorf("stdout %q", stdout.String())
	}
}

// goneWriter fails every write, as a CLI whose output went away.
type goneWriter struct{}

func (goneWriter) Write([]byte) (int, error) { return 0, errors.New("gone") }

// A receive whose caller quits before it has shown the records does not
// mark them received: the next receive has them all.
func TestServeAbortedReceiveKeepsRecords(t *testing.T) {
	th := fakeHost(t)
	call := serve(t, th)
	th.Start("lines 3000 line")
	if code, _, _, err := call(&api.Request{Op: api.OpWait, Jobs: []string{"1"}, Timeout: 30}); code != 0 {
		t.Fatalf("wait: %d %v", code, err)
	}
	c, err := api.Dial(th.Dir)
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.Do(&api.Request{Op: api.OpReceive, Jobs: []string{"1"}}, goneWriter{}, goneWriter{})
	c.Close()
	if code == 0 || err == nil {
		t.Fatalf("a receive whose output fails: code %d, %v; want an error", code, err)
	}
	code, out, _, err := call(&api.Request{Op: api.OpReceive, Jobs: []string{"1"}})
	if code != 0 || err != nil {
		t.Fatalf("receive: %d %v", code, err)
	}
	if n := strings.Count(out, "\n"); n != 3000 || !strings.HasPrefix(out, "line1\n") {
		t.Errorf("the receive after an aborted one printed %d lines (starting %q), want all 3000: the aborted one never showed them", n, out[:min(len(out), 20)])
	}
}
