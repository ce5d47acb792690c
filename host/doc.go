// Package host is the bgjob job host: the job table and its state machine,
// the queue, runtime resolution through the catalog, and the relay that
// brings a job's records from its runtime into the job's record log.
//
// It leans on packages with one job each: catalog (installed runtimes),
// launch (runtime processes), store (the job table on disk), recordlog (a
// job's records on disk), internal/protocol (the plugin protocol behind
// one interface), and internal/triggers (the schedule of stored
// definitions, given what it needs of the host as functions). The
// daemon's socket server (package server) sits on top and is the only
// place that turns the host's errors into exit codes and its records into
// what a user reads.
//
// Life of a job: Start validates everything that can be checked before a job
// exists (working directory, script file, version constraint, runtime
// binary), writes the job's row, and queues it. The queue runs at most
// MaxRunning jobs at once (queued jobs are rows, not processes); each gets
// a runtime process from the Launcher. The relay appends every batch of
// records to the job's log before acknowledging it, so the runtime may drop
// it, unless a draining receive has read everything and takes the batch
// straight away (handOff). Receive reads the log.
//
// Errors are the user's words wrapped around one of the Err* kinds, for
// errors.Is.
package host
