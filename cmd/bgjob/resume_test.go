//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

// TestStartWaitSentAgainResumes: a start --wait whose host dies after the
// CLI printed "first" is sent again carrying the host's last mark, and the
// next host (here a stand-in speaking the frames) needs it to know that
// "first" was printed: the CLI's output has each line once. A stand-in
// that gets no mark sends "first" again, as a host whose own note of the
// delivery was cut short by its death would.
func TestStartWaitSentAgainResumes(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BGJOB_HOME", home)
	ln, err := net.Listen("unix", api.SocketPath(home))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mark := api.Mark{Job: 1, Attempt: 1, Seq: 1}
	var resumed []api.Mark
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			for call := 0; call < 2; call++ {
				c, err := ln.Accept()
				if err != nil {
					return err
				}
				r := bufio.NewReader(c)
				hello, _ := json.Marshal(api.Hello{Version: api.WireVersion, Pid: os.Getpid(), Acks: true})
				if err := api.WriteFrame(c, api.FrameHello, hello); err != nil {
					return err
				}
				kind, p, err := api.ReadFrame(r, nil)
				if err != nil || kind != api.FrameRequest {
					return errors.Join(errors.New("no request"), err)
				}
				var req api.Request
				if err := json.Unmarshal(p, &req); err != nil {
					return err
				}
				if !req.Marks {
					return errors.New("start --wait did not ask for marks")
				}
				var out bytes.Buffer
				if call == 0 {
					// Print "first" with its mark, and die: what was
					// written is still read.
					api.WriteFrame(&out, api.FrameStdout, []byte("first\n"))
					api.WriteFrame(&out, api.FrameMark, api.AppendMark(nil, mark))
					c.Write(out.Bytes())
					c.Close()
					continue
				}
				resumed = req.Resume
				if !slices.Contains(req.Resume, mark) {
					api.WriteFrame(&out, api.FrameStdout, []byte("first\n"))
				}
				api.WriteFrame(&out, api.FrameStdout, []byte("second\n"))
				res, _ := json.Marshal(api.Result{Code: 3})
				api.WriteFrame(&out, api.FrameResult, res)
				c.Write(out.Bytes())
				c.Close()
			}
			return nil
		}()
	}()
	var out bytes.Buffer
	err = callTo(&api.Request{Op: api.OpStart, Wait: true, Start: &api.StartRequest{InstanceID: api.NewInstanceID(), Script: "x"}}, &out)
	if serr := <-served; serr != nil {
		t.Fatalf("the stand-in host: %v", serr)
	}
	var silent *silentError
	if !errors.As(err, &silent) || silent.code != 3 {
		t.Errorf("start --wait sent again ended with %v; want exit status 3", err)
	}
	if out.String() != "first\nsecond\n" {
		t.Errorf("start --wait printed %q, sent again with marks %+v; want each line once", out.String(), resumed)
	}
}
