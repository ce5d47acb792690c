package sdk

import "time"

// Jobs run on goroutines kept from one job to the next. A job's goroutine
// runs the runtime's code (the shell runtime's interpreter goes deep), and
// a fresh goroutine starts on a small stack that the Go runtime grows by
// copying it, again and again: on a batch of trivial thread jobs that
// copying was a tenth of the runtime process's CPU. A kept goroutine's
// stack has grown already. A job finding no goroutine free gets one of its
// own, so jobs never wait for one.

// workerIdle is how long a free goroutine waits for the next job before it
// ends: a process between batches keeps none.
const workerIdle = 10 * time.Second

var freeWorkers = make(chan func())

// goWorker runs f on a free worker goroutine, or on a new one.
func goWorker(f func()) {
	select {
	case freeWorkers <- f:
	default:
		go worker(f)
	}
}

func worker(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		f = nil // not kept alive while waiting
		t.Reset(workerIdle)
		select {
		case f = <-freeWorkers:
		case <-t.C:
			return
		}
	}
}
