//go:build unix

package main

import "syscall"

// detach makes the process lead a session of its own (it fails, harmlessly,
// for a process that leads a group already).
func detach() { _, _ = syscall.Setsid() }
