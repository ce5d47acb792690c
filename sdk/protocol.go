package sdk

import (
	"github.com/hashicorp/go-plugin"
)

// Protocol versions. Protocol 2 (gRPC, sdk/proto/runtimev2) carries all
// seven streams with batching and bulk transfer; protocol 1 (net/rpc,
// sdk/proto/runtimev1) is the legacy line: a long poll, four streams of
// text. A plugin serves one or both (ServeConfig.Protocols); the host picks
// the newest both speak. ProtocolVersion is the newest.
const (
	ProtocolV1      = 1
	ProtocolV2      = 2
	ProtocolVersion = ProtocolV2
)

// PluginName is the name under which a plugin serves its runtime in go-plugin's
// plugin set.
const PluginName = "runtime"

// Handshake is shared by the host and every plugin. The cookie is not a
// security measure: it makes a plugin binary run by hand say that it is a
// plugin rather than do something surprising.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "BGJOB_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "7f1c2a9e0d5b4c3f8e6a1b2d9c0e7f3a",
}

// Environment variables the host sets for a plugin process.
const (
	// EnvLogFile names the file the plugin logs to. A plugin must never log
	// to stdout (go-plugin's handshake line travels there) and should not
	// rely on stderr, which belongs to a host that may go away while the job
	// runs.
	EnvLogFile = "BGJOB_PLUGIN_LOG"
	// EnvOrphanTimeout bounds how long a plugin whose job has ended waits for
	// a host to collect unacknowledged records before it exits anyway.
	EnvOrphanTimeout = "BGJOB_PLUGIN_ORPHAN_TIMEOUT"
	// EnvIdleTimeout bounds how long a plugin started ahead of need waits
	// for its first job; it ends the process a crashed host left behind.
	EnvIdleTimeout = "BGJOB_PLUGIN_IDLE_TIMEOUT"
	// EnvShared marks a process that runs several jobs at once (thread
	// jobs): the SDK then leaves the process's working directory and mask
	// alone (they would be every job's), and a job's Workdir and Umask are
	// the runtime's to honour, per job (the shell runtime's interpreter
	// does both). Job's Workdir states the rule.
	EnvShared = "BGJOB_PLUGIN_SHARED"
	// EnvIgnoreTerm makes the plugin process ignore SIGTERM. A Slurm task
	// sets it: Slurm signals every process of a job step (on a time limit
	// or a cancel), and the runtime must live to stop its job in order and
	// report how it ended, as a local stop lets it.
	EnvIgnoreTerm = "BGJOB_PLUGIN_IGNORE_TERM"
)

// Limits shared by both ends of the gRPC connection. Batches are small, but a
// job's input travels in one RunRequest.
const (
	MaxMessageSize = 128 << 20
	// WindowSize raises gRPC's flow-control windows from 64 KiB, which
	// otherwise caps a record stream far below what a pipe carries.
	WindowSize = 4 << 20
	// IOBufferSize is gRPC's socket read and write buffer: HTTP/2 frames
	// are 16 KiB, and large buffers let one syscall carry many of them.
	IOBufferSize = 1 << 20
)
