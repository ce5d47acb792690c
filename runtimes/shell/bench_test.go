package shell_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
)

// countingEmitter keeps nothing: it measures the runtime, not a store. Its
// writers are not flushed, so a benchmark writes whole lines.
type countingEmitter struct{ bytes, records atomic.Int64 }

func (c *countingEmitter) Emit(r *sdk.Record) error {
	c.bytes.Add(int64(len(r.Chunk) + len(r.Message)))
	c.records.Add(1)
	return nil
}

func (c *countingEmitter) Writer(s sdk.Stream) io.Writer {
	return sdk.NewTextWriter(s, c.Emit)
}

// BenchmarkOutput relays 50 MiB of 100-byte lines from an external command.
func BenchmarkOutput(b *testing.B) {
	const size = 100 << 19
	rt := shell.New()
	job := &sdk.Job{Script: fmt.Sprintf(`yes 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678 | head -c %d`, size), Env: env()}
	b.SetBytes(size)
	for b.Loop() {
		e := &countingEmitter{}
		if res := rt.Run(context.Background(), job, e); res != sdk.Success() {
			b.Fatal(res)
		}
		if e.bytes.Load() != size {
			b.Fatalf("%d bytes", e.bytes.Load())
		}
	}
}

func BenchmarkEcho(b *testing.B) {
	rt := shell.New()
	job := &sdk.Job{Script: `echo hi`, Env: env()}
	for b.Loop() {
		if res := rt.Run(context.Background(), job, &countingEmitter{}); res != sdk.Success() {
			b.Fatal(res)
		}
	}
}

// BenchmarkBatchChild runs what a batch's child is: the batch's script
// with the caller's environment (here 40 variables) and the child's own
// $BGJOB_ variables and argument.
func BenchmarkBatchChild(b *testing.B) {
	rt := shell.New()
	base := env()
	for i := range 38 {
		base = append(base, fmt.Sprintf("VAR_%02d=some value of a typical length, /usr/local/bin:/usr/bin", 37-i))
	}
	i := 0
	for b.Loop() {
		i++
		item := fmt.Sprint(i)
		job := &sdk.Job{Id: uint64(i), Script: `echo "$1"`, Args: []string{item},
			Env: append(append([]string(nil), base...), "BGJOB_ITEM="+item, "BGJOB_JOB_ID="+item, "BGJOB_JOB_NAME=Job"+item)}
		if res := rt.Run(context.Background(), job, &countingEmitter{}); res != sdk.Success() {
			b.Fatal(res)
		}
	}
}
