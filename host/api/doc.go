// Package api is what crosses the unix socket between the bgjob CLI and the
// host daemon: request and job types, the framing, and a small client.
//
// It is deliberately light (standard library only): the CLI links it, and a
// CLI that linked gRPC or go-plugin would pay their package initialisation,
// several milliseconds, on every call. The daemon renders everything a user
// sees, so the CLI only moves bytes to its stdout and stderr.
package api
