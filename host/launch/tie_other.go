//go:build !linux

package launch

import "os/exec"

// tieToLauncher: only Linux has a parent-death signal. Elsewhere a runtime
// whose task was killed lives on until its own orphan timeout, as it did.
func tieToLauncher(*exec.Cmd) {}

// startTied runs start: nothing ties the process to a thread here.
func startTied(start func() error) error { return start() }
