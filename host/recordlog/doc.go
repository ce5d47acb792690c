// Package recordlog is a job's records on disk: an append-only file of
// checked frames (the byte 0, a uvarint length, the CRC-32C of the record,
// the record's protobuf bytes), made from the protodelim-framed records a
// runtime puts in its batches without decoding them, so persisting a batch
// is one write and memory stays flat however much a job prints. A log from
// before checksums holds bare frames (length, record) and is read as it is.
// A record whose bytes do not match its checksum is damage, never data.
//
// A log is not fsynced per batch: what the host has written survives the
// host being killed (it is in the kernel's page cache), the runtime keeps
// every batch until the host acknowledges it, and the log is synced when the
// job ends. A host killed mid-write leaves a torn tail: a short last frame,
// or a last frame that does not decode or match its checksum. Scan finds where the whole records
// end and Open cuts the rest; the runtime sends those records again. Any
// other damage, and any read error, is reported as such and nothing is cut.
package recordlog
