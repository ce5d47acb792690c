package shell

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestGrowPipe: a command's output pipe is grown to pipeSize where the
// system allows it, and its write end stays a non-blocking file.
func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	growPipe(w)
	// A write end made blocking (as File.Fd does) takes no deadline.
	if err := w.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("the pipe's write end became blocking: %v", err)
	}
	size, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile("/proc/sys/fs/pipe-max-size"); len(b) > 0 && size < pipeSize {
		max := 0
		for _, c := range b {
			if c >= '0' && c <= '9' {
				max = max*10 + int(c-'0')
			}
		}
		if max >= pipeSize {
			t.Errorf("pipe of %d bytes, want %d", size, pipeSize)
		}
	}
}
