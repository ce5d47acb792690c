// Package sdk is what a bgjob plugin imports: the interface a runtime (or a
// custom job type) implements, the record types of a job's seven streams, and
// Serve, which turns a plugin's main into a few lines.
//
// A plugin is an executable the host starts with hashicorp/go-plugin. The host
// and the plugin speak the protocol in sdk/proto/runtimev2 (protocol 2, gRPC):
// the host asks the plugin to Run a job and receives the job's records in
// batches; the plugin numbers the records and keeps every batch the host has
// not acknowledged, so a host that goes away and comes back loses nothing.
//
// The SDK does the same for every job, whatever runs it: the job runs in its
// working directory with its file mode creation mask (the rule is on Job's
// Workdir); its environment ends with the BGJOB_* variables (EnvJobID and
// the rest); a job the host stopped ends Stopped whatever Run returns (see
// Runtime); and a job started with --merge-error (Job.MergeError) has the
// text of its error stream written as output; a job started with
// --stdin-open (Job.StdinOpen) gets an input pipe the SDK holds, which
// `bgjob send` writes to and a runtime that implements InputTaker reads
// (Stdin). Job, Definition,
// ProgressDetail and ErrorDetail list their fields.
//
// Every plugin binary also answers `PLUGIN describe` with a JSON description
// and no handshake, so the host's catalog can check a binary before it
// installs it.
//
// The package imports nothing else of bgjob's, so plugin authors take in only
// this contract.
package sdk
