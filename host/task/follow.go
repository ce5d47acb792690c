package task

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob/sdk/process"
)

// A host that cannot read a task's directory (a computer it reaches over
// SSH) runs `bgjobd remote-task -follow OFFSET DIR` there, which streams
// what the task writes as frames: a kind byte, a 4-byte big-endian length
// and that many bytes.
const (
	// FrameStarted holds task-N.start, sent once it is there.
	FrameStarted = 'S'
	// FrameLog holds the next bytes of task-N.log, from the offset asked
	// for on: the host appends them to its copy of the log.
	FrameLog = 'L'
	// FrameDone holds task-N.done, sent after every byte of the log
	// (the task writes its end after its last record); the stream ends.
	FrameDone = 'D'
	// FrameLost says the task ended without recording the job's end
	// (killed, or it could not start at all), with what it printed; the
	// stream ends.
	FrameLost = 'X'
)

// PidPath is where the launcher of a remote task writes its process id,
// by which a follower finds it gone; OutPath takes the task's own output.
func PidPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".pid")
}
func OutPath(dir string, task int) string {
	return filepath.Join(dir, "task-"+strconv.Itoa(task)+".out")
}

// followPoll is how often a follower looks for news in the task's files.
const followPoll = 100 * time.Millisecond

// followChunk bounds a log frame.
const followChunk = 1 << 20

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind byte, data []byte) error {
	var h [5]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(len(data)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// ReadFrame reads one frame; io.EOF only at a frame's boundary.
func ReadFrame(r io.Reader) (kind byte, data []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > 2*followChunk {
		return 0, nil, fmt.Errorf("a frame of %d bytes: the stream is not a task's", n)
	}
	data = make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return h[0], data, nil
}

// Follow streams task's files in dir to w from byte off of its log, until
// the task's end has been sent (or its loss). With stop it first asks the
// task to stop its job (the host's stop, sent again on every connection
// until the job has ended).
func Follow(dir string, task int, off int64, stop bool, out io.Writer) error {
	if _, err := os.Stat(SpecPath(dir)); err != nil {
		return fmt.Errorf("the job's directory %s is not there: %w", dir, err)
	}
	if stop {
		if err := RequestStop(dir); err != nil {
			return err
		}
	}
	w := bufio.NewWriterSize(out, 64<<10)
	started, elsewhere := false, false
	var lostSince time.Time
	for {
		if !started {
			if b, err := os.ReadFile(StartPath(dir, task)); err == nil {
				if err := WriteFrame(w, FrameStarted, b); err != nil {
					return err
				}
				started, elsewhere = true, ranElsewhere(b)
			}
		}
		// The end first: the log then holds every record it covers.
		done, doneErr := os.ReadFile(DonePath(dir, task))
		n, err := sendLog(w, LogPath(dir, task), off)
		if err != nil {
			return err
		}
		off += n
		if doneErr == nil {
			if err := WriteFrame(w, FrameDone, done); err != nil {
				return err
			}
			return w.Flush()
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if n == 0 && !elsewhere && !taskAlive(dir, task) {
			// Gone without its end: looked at twice, a moment apart,
			// for an end written just as it exited. (Only on the
			// machine it ran on: elsewhere its pid says nothing, and
			// the follower reads on, its files being shared.)
			if lostSince.IsZero() {
				lostSince = time.Now()
			} else if time.Since(lostSince) > 5*followPoll {
				endRuntime(dir, task)
				if err := WriteFrame(w, FrameLost, []byte(lostReason(dir, task))); err != nil {
					return err
				}
				return w.Flush()
			}
		} else {
			lostSince = time.Time{}
		}
		if n == 0 {
			// The host removes the directory once it has the job's end.
			// A follower whose connection was cut before that (a host
			// killed, a network dropped) writes nothing while the task
			// has no news, so it would never learn that no one reads it:
			// with the directory gone there is nothing left to follow.
			if _, err := os.Lstat(SpecPath(dir)); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("the job's directory %s is gone (its host removes it once it has the job's end)", dir)
			}
			time.Sleep(followPoll)
		}
	}
}

// endRuntime ends what is left of the runtime of a task that is gone
// without the job's end (killed): the runtime itself if it is still the
// process the task recorded (on Linux it died with the task: the task
// starts it so, launch.Options.EndWithLauncher), then its session, which
// holds the job's processes: the task was the one to stop them, and no
// host follows them any more. A pid that is another process's by now is
// left alone (its start time differs), and so is a session whose leader
// is alive (KillSession). Follow calls it only on the machine the task
// ran on (ranElsewhere).
func endRuntime(dir string, task int) {
	b, err := os.ReadFile(runtimeProcPath(dir, task))
	if err != nil {
		return
	}
	var rp RuntimeProc
	if json.Unmarshal(b, &rp) != nil || rp.Pid <= 1 {
		return
	}
	if st, ok := process.StartTime(rp.Pid); ok && rp.Start != 0 && st == rp.Start {
		if p, err := os.FindProcess(rp.Pid); err == nil {
			_ = p.Kill()
		}
		for deadline := time.Now().Add(5 * time.Second); process.Alive(rp.Pid) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A process of the job may fork while its session is being ended:
	// its child is in the session too, for the next round.
	for range 3 {
		if process.KillSession(rp.Pid) == 0 {
			return
		}
	}
}

// ranElsewhere reports whether the task whose start (task-N.start) is b
// ran on another machine than this one, by the node it recorded: a
// computer name that leads to several machines sharing one home (a
// cluster's login alias) may bring the follower to another, where the
// task's pid means nothing. A task not started yet was launched from
// here, by the connection that follows it.
func ranElsewhere(b []byte) bool {
	var st Started
	if json.Unmarshal(b, &st) != nil || st.Node == "" {
		return false
	}
	here, err := os.Hostname()
	return err != nil || st.Node != here
}

// sendLog writes what the log holds from off on, up to followChunk, and
// says how much.
func sendLog(w io.Writer, path string, off int64) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= off {
		return 0, err
	}
	n := min(fi.Size()-off, followChunk)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return 0, err
	}
	return n, WriteFrame(w, FrameLog, b)
}

// lostReason says how a task that left no end went, with the end of what
// it printed.
func lostReason(dir string, task int) string {
	msg := "the task on the remote computer ended without recording how the job ended (killed?)"
	if _, err := os.Stat(StartPath(dir, task)); err != nil {
		msg = "the task never started on the remote computer"
	}
	if b, err := os.ReadFile(OutPath(dir, task)); err == nil {
		if out := strings.TrimSpace(string(b)); out != "" {
			if len(out) > 500 {
				out = "…" + out[len(out)-500:]
			}
			msg += "; it printed: " + out
		}
	}
	return msg
}
