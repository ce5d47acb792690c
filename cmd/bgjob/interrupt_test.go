//go:build unix

package main

import (
	"syscall"
	"testing"
	"time"
)

// Once armed returns, a SIGINT reaches the handler: the request may go out
// (Notify is armed in the background, beside the connect).
func TestInterruptArmedBeforeTheRequest(t *testing.T) {
	for range 20 {
		got := make(chan struct{}, 1)
		armed, stop := onInterrupt(true, func() bool { got <- struct{}{}; return true })
		armed()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("a SIGINT after armed did not reach the handler")
		}
		stop()
	}
}
