package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob/host/internal/protocol"
	"github.com/bgjob/bgjob/host/recordlog"
	"github.com/bgjob/bgjob/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// startVersioned launches the test binary as a plugin serving protocols and
// returns its client, connection and the version go-plugin negotiated.
func startVersioned(t *testing.T, mode, protocols string) (*plugin.Client, protocol.Conn) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{envMode + "=" + mode, envProtocols + "=" + protocols, sdk.EnvLogFile + "=" + filepath.Join(dir, "plugin.log"), raceEnv}
	c, err := protocol.NewClient(&protocol.ClientOptions{Cmd: cmd, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	conn, err := protocol.Dispense(c)
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	return c, conn
}

// v1Lines drains a protocol-1 stream into lines "stream text", checking the
// numbering: increasing, each line after the one before.
func v1Lines(t *testing.T, s protocol.Stream, after uint64) ([]string, *sdk.Done, uint64) {
	t.Helper()
	var out []string
	last := after
	for {
		b, err := s.Recv()
		if errors.Is(err, io.EOF) {
			t.Fatal("the stream ended without the job's end")
		}
		if err != nil {
			t.Fatalf("Recv after %d: %v", last, err)
		}
		if b.Done != nil {
			return out, b.Done, last
		}
		if b.LastSeq <= last {
			t.Fatalf("batch %d..%d after %d", b.FirstSeq, b.LastSeq, last)
		}
		err = recordlog.Each(b.Records, func(r *sdk.Record, _ []byte) error {
			if r.Seq <= last {
				return fmt.Errorf("record %d after %d", r.Seq, last)
			}
			last = r.Seq
			text := r.Message
			if r.Chunk != nil {
				text = strings.TrimSuffix(string(r.Chunk), "\n")
			}
			out = append(out, sdk.StreamNames[r.Stream]+" "+text)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		last = b.LastSeq
	}
}

// Protocol 1 carries the four streams as lines of text: typed records
// become their text, debug goes with verbose, information with output, and
// progress, which an old runtime cannot show, is left out. The plugin
// exits by itself once the end is acknowledged.
func TestProtocol1(t *testing.T) {
	t.Parallel()
	c, conn := startVersioned(t, "lines", "1")
	if v := c.NegotiatedVersion(); v != 1 {
		t.Fatalf("negotiated protocol %d, want 1", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	d, err := conn.Describe(ctx)
	if err != nil || d.Name != pluginName || fmt.Sprint(d.Protocols) != "[1]" || d.Pid == 0 {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	job := &sdk.Job{Id: 7, Name: "seven", Args: []string{"3"}}
	s, err := conn.Run(ctx, job, 0)
	if err != nil {
		t.Fatal(err)
	}
	lines, done, last := v1Lines(t, s, 0)
	want := []string{
		`output job 7 seven  3 ""`,
		"output 42",
		"error it broke",
		"verbose verbose message",
		"verbose debug message",
		"warning warning message",
		"output info",
		"output with own time",
		"error stderr line",
		"output line 0", "output line 1", "output line 2",
		"output tail without newline",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if done.State != sdk.Completed {
		t.Errorf("Done %+v", done)
	}
	if err := conn.Ack(ctx, protocol.RunOf(job), last, true); err != nil {
		t.Fatal(err)
	}
	waitExited(t, c)
}

// A host that goes away mid-job comes back through go-plugin's reattach,
// with the protocol it recorded, and asks after the last record it kept:
// the lines go on without a gap or a repeat.
func TestProtocol1Reattach(t *testing.T) {
	t.Parallel()
	c, conn := startVersioned(t, "lines", "1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const n = 30000
	job := &sdk.Job{Id: 3, Args: []string{strconv.Itoa(n)}}
	ctx1, cancel1 := context.WithCancel(ctx)
	s, err := conn.Run(ctx1, job, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	after := b.LastSeq
	before := 0
	recordlog.Each(b.Records, func(*sdk.Record, []byte) error { before++; return nil })
	cancel1()
	rc := c.ReattachConfig()

	c2, err := protocol.NewClient(&protocol.ClientOptions{Reattach: rc, Protocol: 1, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	conn2, err := protocol.Dispense(c2)
	if err != nil {
		t.Fatalf("reattach: %v", err)
	}
	s2, err := conn2.Run(ctx, job, after)
	if err != nil {
		t.Fatal(err)
	}
	lines, done, last := v1Lines(t, s2, after)
	if done.State != sdk.Completed {
		t.Errorf("Done %+v", done)
	}
	// 9 typed records, stderr, n lines, the tail: each numbered; the
	// progress record is not sent over protocol 1, so one line fewer.
	if last != 9+1+n+1 {
		t.Errorf("the numbers end at %d, want %d", last, 9+1+n+1)
	}
	if got := before + len(lines); got != 9+1+n+1-1 {
		t.Errorf("%d lines before and %d after the reattach, want %d in all", before, len(lines), 9+1+n+1-1)
	}
	if lines[len(lines)-1] != "output tail without newline" {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	if err := conn2.Ack(ctx, protocol.RunOf(job), last, true); err != nil {
		t.Fatal(err)
	}
	waitExited(t, c)
}

// A plugin that serves both protocols gets the newest; a stop reaches the
// job over protocol 1 too.
func TestProtocolsBothAndStop(t *testing.T) {
	t.Parallel()
	c, _ := startVersioned(t, "sleep", "1,2")
	if v := c.NegotiatedVersion(); v != 2 {
		t.Errorf("a plugin serving 1 and 2 negotiated %d, want 2", v)
	}
	_, conn := startVersioned(t, "sleep", "1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := conn.Run(ctx, &sdk.Job{Id: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		conn.Stop(ctx, 1, 1500*time.Millisecond)
	}()
	lines, done, _ := v1Lines(t, s, 0)
	if fmt.Sprint(lines) != "[output sleeping]" || done.State != sdk.Stopped || done.Reason != "stop=true grace=1.5s" {
		t.Errorf("lines %q, done %+v", lines, done)
	}
}
