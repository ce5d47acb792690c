// Package recordlog is a job's records on disk: an append-only file of
// protodelim-framed records (a uvarint length, then the record's protobuf
// bytes), exactly the bytes a runtime puts in its batches, so persisting a
// batch is one write and memory stays flat however much a job prints.
//
// A log is not fsynced per batch: what the host has written survives the
// host being killed (it is in the kernel's page cache), the runtime keeps
// every batch until the host acknowledges it, and the log is synced when the
// job ends. A host killed mid-write leaves a torn tail: a short last frame,
// or a last frame that does not decode. Scan finds where the whole records
// end and Open cuts the rest; the runtime sends those records again. Any
// other damage, and any read error, is reported as such and nothing is cut.
package recordlog
