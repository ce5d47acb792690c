package sdk

import (
	"bytes"
	"runtime"
	"testing"
)

// goroutineID is the calling goroutine's number, as its stack trace gives it.
func goroutineID() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	f := bytes.Fields(b)
	return string(f[1])
}

// A job runs on the goroutine the job before it finished on; a job finding
// every worker busy gets a goroutine of its own at once, never waiting.
func TestWorkersReusedNeverWaitedFor(t *testing.T) {
	ids := make(chan string)
	goWorker(func() { ids <- goroutineID() })
	first := within(t, ids, "the first job")
	// The worker is free once its job has returned; a job given while it
	// is on its way back may get a new one, so a few tries.
	reused := false
	for range 50 {
		goWorker(func() { ids <- goroutineID() })
		if within(t, ids, "a job") == first {
			reused = true
			break
		}
		runtime.Gosched()
	}
	if !reused {
		t.Errorf("no job ran on the goroutine %s freed", first)
	}
	block, ran := make(chan struct{}), make(chan struct{})
	defer close(block)
	goWorker(func() { <-block })
	goWorker(func() { close(ran) })
	within(t, ran, "a job while another blocks its worker")
}
