package task

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// frames runs Follow over dir from off and returns the frames it wrote.
func frames(t *testing.T, dir string, off int64, stop bool) (kinds string, data [][]byte) {
	t.Helper()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Follow(dir, 0, off, stop, &out) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not end")
	}
	for {
		k, d, err := ReadFrame(&out)
		if err != nil {
			return kinds, data
		}
		kinds += string(k)
		data = append(data, d)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A follower sends the task's start, its log from the offset asked for,
// then its end, which comes after every byte of the log.
func TestFollowEnded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, SpecPath(dir), "{}")
	writeFile(t, StartPath(dir, 0), `{"node":"n"}`)
	writeFile(t, LogPath(dir, 0), "0123456789")
	e, _ := json.Marshal(Ended{State: "Completed", LastSeq: 3})
	writeFile(t, DonePath(dir, 0), string(e))
	kinds, data := frames(t, dir, 4, false)
	if kinds != "SLD" || string(data[1]) != "456789" || string(data[2]) != string(e) {
		t.Errorf("frames %q %q, want S, the log from byte 4, D", kinds, data)
	}
	if _, err := os.Stat(StopPath(dir)); err == nil {
		t.Error("a stop file without -stop")
	}
	// From the end: nothing of the log again.
	if kinds, _ := frames(t, dir, 10, true); kinds != "SD" {
		t.Errorf("from the log's end: frames %q, want SD", kinds)
	}
	if _, err := os.Stat(StopPath(dir)); err != nil {
		t.Errorf("-stop wrote no stop file: %v", err)
	}
}

// A task that is gone without recording its end is reported lost, with
// what it printed.
func TestFollowLost(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, SpecPath(dir), "{}")
	writeFile(t, LogPath(dir, 0), "abc")
	writeFile(t, OutPath(dir, 0), "bgjobd remote-task: cannot start the runtime\n")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, PidPath(dir, 0), strconv.Itoa(cmd.Process.Pid)) // ended and reaped
	kinds, data := frames(t, dir, 0, false)
	if kinds != "LX" || string(data[0]) != "abc" || !strings.Contains(string(data[1]), "cannot start the runtime") || !strings.Contains(string(data[1]), "never started") {
		t.Errorf("frames %q %q, want the log, then X saying the task never started and what it printed", kinds, data)
	}
}

// A directory that is not there is an error, not a stream that waits
// for ever.
func TestFollowNoDir(t *testing.T) {
	if err := Follow(t.TempDir()+"/gone", 0, 0, false, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "not there") {
		t.Errorf("Follow of a missing directory: %v", err)
	}
}

// A follower left behind by a connection that was cut (the task still
// running, no pid file to find it by) ends once the host, which followed
// the task to its end over another connection, removes the job's
// directory: it does not poll a directory that is gone for ever.
func TestFollowEndsWhenTheDirectoryGoes(t *testing.T) {
	dir := t.TempDir() + "/job"
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, SpecPath(dir), "{}")
	writeFile(t, LogPath(dir, 0), "abc")
	done := make(chan error, 1)
	go func() { done <- Follow(dir, 0, 0, false, &bytes.Buffer{}) }()
	select {
	case err := <-done:
		t.Fatalf("Follow ended with the task still there: %v", err)
	case <-time.After(3 * followPoll):
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is gone") {
			t.Errorf("Follow once the directory went: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow still polls a directory that is gone")
	}
}
