//go:build !unix

package main

import (
	"os"
	"os/exec"
)

func detach(*exec.Cmd) {}

// execHost runs the host as a child where exec(2) does not exist.
func execHost(bin string, argv []string) error {
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}
