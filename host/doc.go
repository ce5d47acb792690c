// Package host is the bgjob job host: the job table and its state machine,
// runtime resolution through the catalog, the plugin launcher, the record
// relay and the durable store. The daemon (cmd/bgjobd) is a thin server over
// it (see Serve), and a Go program can embed a Host directly.
//
// Life of a job: Start validates everything that can be checked before a job
// exists (working directory, script file, version constraint, runtime
// binary), writes the job's row, and queues it. The scheduler launches at
// most MaxRunning runtimes at once (queued jobs are rows, not processes);
// each runs as its own go-plugin process. The relay appends every batch of
// records to the job's log before acknowledging it, so the runtime may drop
// it, and receive reads the log.
package host
