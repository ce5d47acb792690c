package sdktest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
	"golang.org/x/sys/unix"
)

// A job that leaves a process holding its input (here: a descriptor of
// the pipe kept past Run) must not leave a send blocked on the full pipe
// for ever, nor the job's end waiting for that send.
func TestProtocolSendLeftHeld(t *testing.T) {
	var held *os.File
	t.Cleanup(func() {
		if held != nil {
			held.Close()
		}
	})
	run := func(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
		f, _ := sdk.Stdin(ctx)
		fd, err := syscall.Dup(int(f.Fd()))
		if err != nil {
			return sdk.Failure(1, err.Error())
		}
		held = os.NewFile(uintptr(fd), "held")
		r := firstLine(ctx, job, out)
		// End only once the pipe is full, its writer (the second
		// send) blocked on it: TIOCINQ (FIONREAD) says how much a
		// Linux pipe holds.
		for {
			n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
			if err != nil {
				return sdk.Failure(1, err.Error())
			}
			if n >= 64<<10 {
				return r
			}
			time.Sleep(time.Millisecond)
		}
	}
	cfg := &sdk.ServeConfig{Name: "t", Version: "1.0.0", Runtime: inputRuntime{run: run}}
	big := []byte(strings.Repeat("x", 4<<20) + "\n")
	got, errs := sdktest.ProtocolSend(t, cfg, &sdk.Job{Id: 1, StdinOpen: true},
		sdktest.Send{Data: []byte("a\n")}, sdktest.Send{Data: big})
	if out := fmt.Sprint(got.Stream(sdk.Output)); out != "[got a]" {
		t.Errorf("output %s, result %+v", out, got.Result)
	}
	if errs[0] != nil {
		t.Errorf("first send: %v", errs[0])
	}
	if errs[1] == nil || errs[1].Error() != "the job ended before it read this input" {
		t.Errorf("send into a pipe nobody reads: %v", errs[1])
	}
}
