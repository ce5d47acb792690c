// Package host is the bgjob job host: the job table and its state machine,
// runtime resolution through the catalog, the plugin launcher, the record
// relay and the durable store. The daemon (cmd/bgjobd) is a thin server over
// it (see Serve), and a Go program can embed a Host directly.
//
// Life of a job: Start validates everything that can be checked before a job
// exists (working directory, script file, version constraint, runtime
// binary), writes the job's row, and queues it. The scheduler launches at
// most MaxRunning runtimes at once (queued jobs are rows, not processes);
// each runs as its own go-plugin process, often one started ahead of need
// (spare.go). The relay appends every batch of records to the job's log
// before acknowledging it, so the runtime may drop it, unless a draining
// receive has read everything and takes the batch straight away (handOff);
// receive reads the log. The socket server (server.go) renders what a CLI
// call prints and writes it to the caller's own stdout and stderr when the
// CLI passes them.
package host
