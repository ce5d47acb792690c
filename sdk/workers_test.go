package sdk

import (
	"bytes"
	"runtime"
	"testing"
	"time"
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
	// is on its way back may get a new one, and one given while other
	// tests' workers are idle may go to one of those: tries, each after a
	// pause that lets the worker get back, for up to 10 s on a busy
	// machine (the first try is enough on a quiet one).
	reused := false
	for deadline := time.Now().Add(10 * time.Second); !reused && time.Now().Before(deadline); {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		goWorker(func() { ids <- goroutineID() })
		reused = within(t, ids, "a job") == first
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
