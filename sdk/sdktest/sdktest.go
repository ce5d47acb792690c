// Package sdktest runs a plugin's jobs in the test's own process, so a
// plugin author can test a runtime or a job type with plain Go tests, in
// two ways:
//
//   - Run calls Runtime.Run directly with an Emitter that collects the
//     records: the runtime's own behaviour, nothing of the SDK's server
//     (no working directory entered, no BGJOB_* environment, no stop).
//   - Protocol (and ProtocolStop, Resolve, Definitions) serves the plugin
//     through the SDK's real server, in process: what a host receives,
//     numbered and batched, with the job's working directory entered, its
//     BGJOB_* environment set and the SDK's stop rule applied, as in a
//     plugin's process. Protocol 2 travels over an in-memory gRPC
//     connection, protocol 1 over go-plugin's net/rpc server; neither
//     logs to the test's output.
//
// A plugin process of its own (the handshake, the file mode creation mask,
// what crosses the process boundary) is tested by bgjob's integration
// tests instead.
package sdktest

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// Emitter collects records in memory. Text written to its writers becomes
// one record per line, as the real emitter numbers them.
type Emitter struct {
	mu      sync.Mutex
	seq     uint64
	records []*sdk.Record
	writers map[sdk.Stream]*sdk.TextWriter
}

// NewEmitter returns an empty Emitter.
func NewEmitter() *Emitter {
	return &Emitter{writers: map[sdk.Stream]*sdk.TextWriter{}}
}

// Emit stores a copy of r with its sequence number set.
func (e *Emitter) Emit(r *sdk.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := proto.Clone(r).(*sdk.Record)
	c.Seq = e.seq + 1
	if c.Count > 1 {
		e.seq += uint64(c.Count)
	} else {
		e.seq++
	}
	e.records = append(e.records, c)
	return nil
}

// Writer returns the stream's line writer.
func (e *Emitter) Writer(s sdk.Stream) io.Writer {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.writers[s]
	if !ok {
		w = sdk.NewTextWriter(s, e.Emit)
		e.writers[s] = w
	}
	return w
}

// Flush emits what the writers still hold, in the SDK's stream order, as
// the SDK does when Run returns.
func (e *Emitter) Flush() {
	e.mu.Lock()
	var ws []*sdk.TextWriter
	for _, s := range []sdk.Stream{sdk.Output, sdk.Error, sdk.Progress, sdk.Verbose, sdk.Debug, sdk.Warning, sdk.Information} {
		if w := e.writers[s]; w != nil {
			ws = append(ws, w)
		}
	}
	e.mu.Unlock()
	for _, w := range ws {
		_ = w.Flush()
	}
}

// Records returns what was emitted so far, with chunks of text split into
// one record per line (Message holds the line, without its newline).
func (e *Emitter) Records() []*sdk.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*sdk.Record
	for _, r := range e.records {
		if r.Chunk == nil {
			out = append(out, r)
			continue
		}
		for i, line := range SplitChunk(r.Chunk) {
			out = append(out, &sdk.Record{Seq: r.Seq + uint64(i), TimeUnixNano: r.TimeUnixNano, Stream: r.Stream, Message: line})
		}
	}
	return out
}

// Stream returns the messages of one stream, in order.
func (e *Emitter) Stream(s sdk.Stream) []string {
	var out []string
	for _, r := range e.Records() {
		if r.Stream == s {
			out = append(out, r.Message)
		}
	}
	return out
}

// SplitChunk splits a chunk of text into its lines, without newlines.
func SplitChunk(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(s, "\n")
}

// Run runs job with rt in process and returns the records and result, after
// flushing the writers as the SDK does. It is a direct call: the job's
// Workdir, Env and MergeError are the runtime's alone to honour here, and
// the SDK's stop rule is not applied; Protocol adds what the SDK's server
// does.
func Run(ctx context.Context, rt sdk.Runtime, job *sdk.Job) (*Emitter, sdk.Result) {
	e := NewEmitter()
	res := rt.Run(ctx, job, e)
	e.Flush()
	return e, res
}
