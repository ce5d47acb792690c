package sdktest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bgjob/bgjob/sdk"
	"github.com/bgjob/bgjob/sdk/sdktest"
)

func TestSplitChunk(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"\n", []string{""}},
		{"\n\n", []string{"", ""}},
		{"a\nb", []string{"a", "b"}},
		{"a\nb\n", []string{"a", "b"}},
		{"a\n\nb\n", []string{"a", "", "b"}},
	} {
		got := sdktest.SplitChunk([]byte(tc.in))
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("SplitChunk(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	rt := sdk.RuntimeFunc(func(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
		w := out.Writer(sdk.Output)
		fmt.Fprint(w, "one\ntw")
		_ = out.Emit(sdk.NewMessage(sdk.Verbose, "verbose"))
		fmt.Fprint(w, "o\nthree\n\nfour")
		fmt.Fprint(out.Writer(sdk.Error), "oops\n")
		return sdk.Failure(4, job.Name)
	})
	e, res := sdktest.Run(context.Background(), rt, &sdk.Job{Name: "named"})
	if res != sdk.Failure(4, "named") {
		t.Errorf("result %+v", res)
	}
	type rec struct {
		seq    uint64
		stream sdk.Stream
		msg    string
	}
	var got []rec
	for _, r := range e.Records() {
		got = append(got, rec{r.Seq, r.Stream, r.Message})
	}
	want := []rec{
		{1, sdk.Output, "one"},
		{2, sdk.Verbose, "verbose"},
		{3, sdk.Output, "two"},
		{4, sdk.Output, "three"},
		{5, sdk.Output, ""},
		{6, sdk.Error, "oops"},
		{7, sdk.Output, "four"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records\n %v\nwant\n %v", got, want)
	}
	if got := e.Stream(sdk.Output); strings.Join(got, "|") != "one|two|three||four" {
		t.Errorf("Stream(Output) = %q", got)
	}
	if got := e.Stream(sdk.Debug); got != nil {
		t.Errorf("Stream(Debug) = %q, want none", got)
	}
}

// TestFlushOrder: sdktest.Emitter.Flush is documented to flush "as the SDK
// does when Run returns", and the SDK flushes its writers in a fixed stream
// order (Output, Error, Progress, Verbose, Debug, Warning, Information; see
// emitter.flush in emitter.go). sdktest ranges over a map instead
// (sdktest.go:61-63), so unfinished lines of two streams are numbered in a
// random order that changes from run to run, and a plugin author's test
// comparing Records() is flaky.
func TestFlushOrder(t *testing.T) {
	rt := sdk.RuntimeFunc(func(ctx context.Context, job *sdk.Job, out sdk.Emitter) sdk.Result {
		fmt.Fprint(out.Writer(sdk.Warning), "warning tail")
		fmt.Fprint(out.Writer(sdk.Output), "output tail")
		fmt.Fprint(out.Writer(sdk.Error), "error tail")
		return sdk.Success()
	})
	orders := map[string]int{}
	for range 50 {
		e, _ := sdktest.Run(context.Background(), rt, &sdk.Job{})
		var got []string
		for _, r := range e.Records() {
			got = append(got, r.Message)
		}
		orders[strings.Join(got, ", ")]++
	}
	const want = "output tail, error tail, warning tail"
	if len(orders) != 1 || orders[want] == 0 {
		t.Errorf("flushed tails came in these orders (times seen): %v; want always %q", orders, want)
	}
}

// TestEmitterConcurrent numbers records from many goroutines uniquely and
// without gaps. Run with -race.
func TestEmitterConcurrent(t *testing.T) {
	e := sdktest.NewEmitter()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if i%2 == 0 {
					_ = e.Emit(sdk.NewOutput(fmt.Sprint(g, i), ""))
				} else {
					fmt.Fprintf(e.Writer(sdk.Verbose), "g%d\nl%d\n", g, i)
				}
			}
		})
	}
	wg.Wait()
	e.Flush()
	recs := e.Records()
	if len(recs) != 8*(100+200) {
		t.Fatalf("%d records, want %d", len(recs), 8*300)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
}
