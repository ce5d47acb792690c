// Package server serves a host over its unix socket: it listens (on the
// user's home, or on the system socket, reachable by every user), learns
// who calls from the kernel (SO_PEERCRED) and never from the request, reads
// one framed request per connection (host/api), calls the host, and writes
// the answer back as frames: the job table rendered for a terminal or as
// JSON, a job's records as they come, progress drawn for a terminal, and
// an exit code the CLI exits with (the one mapping from the host's error
// kinds to exit codes is here, in exitCode).
//
// It is the daemon's half of the CLI's wire: only cmd/bgjobd links it, so
// the CLI stays light, and the host stays free of framing and rendering.
package server
