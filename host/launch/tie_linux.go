//go:build linux

package launch

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// tieToLauncher has the kernel kill the process cmd starts when its
// launcher dies (PR_SET_PDEATHSIG), however it dies: a Slurm or SSH task
// killed with -9 takes its runtime with it, rather than leave it running
// with nobody to follow it or stop it (no host reattaches to a task's
// runtime). KILL, not TERM: a Slurm task's runtime ignores TERM (Slurm
// sends it to every process of the step), and a runtime that does not
// could not report its job's end to a task that is gone anyway.
//
// The kernel sends the signal when the *thread* that started the process
// ends, not the process; Go ends a thread whose goroutine exits while
// locked to it, so such a process is started from a thread that lives as
// long as the launcher (startTied).
func tieToLauncher(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// forkThread is the thread tied processes are started from: a goroutine
// locked to it that never returns, so the thread is never ended before
// the process is.
var forkThread struct {
	once sync.Once
	do   chan func()
}

// startTied runs start (cmd.Start of a tied process) on forkThread.
func startTied(start func() error) error {
	forkThread.once.Do(func() {
		forkThread.do = make(chan func())
		go func() {
			runtime.LockOSThread() // for good: see tieToLauncher
			for f := range forkThread.do {
				f()
			}
		}()
	})
	done := make(chan error, 1)
	forkThread.do <- func() { done <- start() }
	return <-done
}
