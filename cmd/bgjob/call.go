package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/host/api"
)

// useSystem is --system: talk to the system host.
var useSystem bool

// systemSocket is the system host's socket the caller asked for: with
// --system the default one, or $BGJOB_SOCKET; "" for the user's own host.
func systemSocket() string {
	if s := os.Getenv("BGJOB_SOCKET"); s != "" {
		return s
	}
	if useSystem {
		return api.SystemSocket
	}
	return ""
}

// connect reaches the host: the system host if asked for (never started
// from here: it is a service), else the user's own, started if none runs.
func connect() (*api.Client, error) {
	if sock := systemSocket(); sock != "" {
		return api.DialSocket(sock)
	}
	home, err := api.DefaultHome()
	if err != nil {
		return nil, api.WithCode(api.ExitUnavailable, err)
	}
	return api.Connect(home, 10*time.Second, func() (<-chan error, error) { return startHost(home) })
}

// call sends req to the host and copies what it prints to our stdout and
// stderr.
func call(req *api.Request) error {
	var code int
	var err error
	for try := 0; ; try++ {
		var c *api.Client
		c, err = connect()
		if err != nil {
			return api.WithCode(api.ExitUnavailable, err)
		}
		code, err = c.Do(req, os.Stdout, os.Stderr)
		c.Close()
		// A host that died just as we connected never saw the request:
		// connect again (starting a new host) and send it once more.
		var notSent *api.NotSentError
		if try == 0 && errors.As(err, &notSent) {
			continue
		}
		break
	}
	if err == nil && code != 0 {
		return &silentError{code: code}
	}
	return err
}

// hostBinary finds bgjobd: beside this executable (how `make build` and the
// release lay them out), else on PATH.
func hostBinary() (string, error) {
	if p := os.Getenv("BGJOB_HOSTD"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "bgjobd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("bgjobd")
	if err != nil {
		return "", fmt.Errorf("cannot find the host binary bgjobd beside bgjob or on PATH; set BGJOB_HOSTD")
	}
	return p, nil
}

// startHost starts bgjobd in the background, in its own session so it
// outlives this terminal, logging to host.log in its home. The channel gets
// the host's exit, should it end while the CLI still waits for it.
func startHost(home string) (<-chan error, error) {
	bin, err := hostBinary()
	if err != nil {
		return nil, err
	}
	logf, err := api.PrepareHome(home)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-home", home)
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Reaped either way, so that a host that exits at once does not
	// linger as a zombie while we wait for the socket.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}
