package sdk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// chunkSink collects what a TextWriter emits, copying each chunk as the
// emit contract asks.
type chunkSink struct {
	mu      sync.Mutex
	records []*Record
	fail    error
}

func (c *chunkSink) emit(r *Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.records = append(c.records, &Record{Stream: r.Stream, Chunk: bytes.Clone(r.Chunk), Count: r.Count})
	return nil
}

func (c *chunkSink) joined() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b []byte
	for _, r := range c.records {
		b = append(b, r.Chunk...)
	}
	return b
}

func (c *chunkSink) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.records {
		n += int(r.Count)
	}
	return n
}

func (c *chunkSink) snapshot() []*Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Record(nil), c.records...)
}

// checkChunks asserts what holds for every chunk a TextWriter emits: it is of
// the writer's stream, not empty, at most maxChunk long, and its Count is the
// number of records it stands for.
func checkChunks(t *testing.T, recs []*Record, s Stream) {
	t.Helper()
	for i, r := range recs {
		if r.Stream != s {
			t.Errorf("chunk %d: stream %v, want %v", i, r.Stream, s)
		}
		if len(r.Chunk) == 0 {
			t.Errorf("chunk %d is empty", i)
		}
		if len(r.Chunk) > maxChunk {
			t.Errorf("chunk %d holds %d bytes, more than maxChunk (%d)", i, len(r.Chunk), maxChunk)
		}
		if want := chunkCount(r.Chunk); r.Count != want {
			t.Errorf("chunk %d: Count %d, want %d", i, r.Count, want)
		}
	}
}

func TestChunkCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"a", 1},
		{"\n", 1},
		{"a\n", 1},
		{"\n\n\n", 3},
		{"a\nb", 2},
		{"a\nb\n", 2},
		{"a\n\nb", 3},
		{"a\n\nb\n", 3},
		{"\na", 2},
		{"no newline at all, but long " + strings.Repeat("x", 1000), 1},
		{strings.Repeat("line\n", 1000), 1000},
		{strings.Repeat("line\n", 1000) + "tail", 1001},
	} {
		if got := chunkCount([]byte(tc.in)); got != tc.want {
			t.Errorf("chunkCount(%.20q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestTextWriterWrites checks how sequences of writes become chunks, and
// what Flush adds.
func TestTextWriterWrites(t *testing.T) {
	type chunk struct {
		text  string
		count uint32
	}
	for _, tc := range []struct {
		name   string
		writes []string
		before []chunk // emitted by the writes
		after  []chunk // emitted by Flush
	}{
		{name: "nothing"},
		{name: "empty write", writes: []string{""}},
		{name: "one line", writes: []string{"hello\n"}, before: []chunk{{"hello\n", 1}}},
		{name: "empty line", writes: []string{"\n"}, before: []chunk{{"\n", 1}}},
		{name: "partial only", writes: []string{"abc"}, after: []chunk{{"abc", 1}}},
		{name: "partials joined", writes: []string{"a", "b", "", "c"}, after: []chunk{{"abc", 1}}},
		{
			name:   "line split across writes",
			writes: []string{"hel", "lo\nwor", "ld\n"},
			before: []chunk{{"hello\n", 1}, {"world\n", 1}},
		},
		{
			name:   "partial joins the first line of the next write",
			writes: []string{"a", "b\nc\nd\n"},
			before: []chunk{{"ab\n", 1}, {"c\nd\n", 2}},
		},
		{
			name:   "many lines in one write are one chunk",
			writes: []string{"1\n2\n3\n4\n5\n"},
			before: []chunk{{"1\n2\n3\n4\n5\n", 5}},
		},
		{
			name:   "tail waits for Flush",
			writes: []string{"a\nb\nc"},
			before: []chunk{{"a\nb\n", 2}},
			after:  []chunk{{"c", 1}},
		},
		{
			name:   "tail completed by a later write",
			writes: []string{"a\nb", "c", "\n"},
			before: []chunk{{"a\n", 1}, {"bc\n", 1}},
		},
		{
			name:   "blank lines count",
			writes: []string{"\n\n", "x\n\n"},
			before: []chunk{{"\n\n", 2}, {"x\n\n", 2}},
		},
		{
			name:   "newline alone ends the partial",
			writes: []string{"part", "\n", "next"},
			before: []chunk{{"part\n", 1}},
			after:  []chunk{{"next", 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink chunkSink
			w := NewTextWriter(Warning, sink.emit)
			for _, s := range tc.writes {
				n, err := w.Write([]byte(s))
				if err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", s, n, err, len(s))
				}
			}
			got := func() []chunk {
				var out []chunk
				for _, r := range sink.snapshot() {
					out = append(out, chunk{string(r.Chunk), r.Count})
				}
				return out
			}
			if g := got(); fmt.Sprint(g) != fmt.Sprint(tc.before) {
				t.Errorf("after the writes: chunks %+v, want %+v", g, tc.before)
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			want := append(append([]chunk(nil), tc.before...), tc.after...)
			if g := got(); fmt.Sprint(g) != fmt.Sprint(want) {
				t.Errorf("after Flush: chunks %+v, want %+v", g, want)
			}
			// A second Flush has nothing left to send.
			if err := w.Flush(); err != nil {
				t.Fatalf("second Flush: %v", err)
			}
			if g := got(); len(g) != len(want) {
				t.Errorf("second Flush emitted %d more chunks", len(g)-len(want))
			}
			checkChunks(t, sink.snapshot(), Warning)
		})
	}
}

// TestTextWriterManyLines writes many lines at once: they travel as chunk
// records whose counts add up to the lines and whose bytes are the input.
func TestTextWriterManyLines(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lines   int
		lineLen int // including the newline
		minRecs int // chunks at least (the input is larger than maxChunk)
	}{
		{"few short", 3, 6, 1},
		{"thousand", 1000, 20, 1},
		{"larger than a chunk", 20000, 20, (20000*20 + maxChunk - 1) / maxChunk},
		{"lines not dividing maxChunk", 5000, 777, (5000*777 + maxChunk - 1) / maxChunk},
		{"exactly maxChunk lines", 4, maxChunk, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in bytes.Buffer
			for i := range tc.lines {
				s := fmt.Sprintf("%d:", i)
				in.WriteString(s + strings.Repeat("x", tc.lineLen-len(s)-1) + "\n")
			}
			var sink chunkSink
			w := NewTextWriter(Output, sink.emit)
			if n, err := w.Write(in.Bytes()); err != nil || n != in.Len() {
				t.Fatalf("Write = %d, %v", n, err)
			}
			recs := sink.snapshot()
			if len(recs) < tc.minRecs {
				t.Errorf("%d chunks, want at least %d", len(recs), tc.minRecs)
			}
			if in.Len() <= maxChunk && len(recs) != 1 {
				t.Errorf("%d bytes of lines became %d chunks, want 1", in.Len(), len(recs))
			}
			checkChunks(t, recs, Output)
			for i, r := range recs {
				// Every line here fits a chunk, so chunks end at line ends.
				if r.Chunk[len(r.Chunk)-1] != '\n' {
					t.Errorf("chunk %d does not end with a newline", i)
				}
			}
			if got := sink.count(); got != tc.lines {
				t.Errorf("counts add up to %d, want %d lines", got, tc.lines)
			}
			if !bytes.Equal(sink.joined(), in.Bytes()) {
				t.Errorf("chunks joined differ from the input")
			}
			if err := w.Flush(); err != nil || len(sink.snapshot()) != len(recs) {
				t.Errorf("Flush after whole lines: err %v, %d new chunks", err, len(sink.snapshot())-len(recs))
			}
		})
	}
}

// TestTextWriterLongLines cuts lines longer than maxChunk into pieces of at
// most maxChunk, which joined are the line, however the line is written.
func TestTextWriterLongLines(t *testing.T) {
	split := func(s string, n int) []string {
		var out []string
		for len(s) > n {
			out = append(out, s[:n])
			s = s[n:]
		}
		return append(out, s)
	}
	for _, length := range []int{maxChunk - 1, maxChunk, maxChunk + 1, 2 * maxChunk, 3*maxChunk + 5} {
		line := strings.Repeat("y", length) + "\n"
		for _, tc := range []struct {
			name   string
			writes []string
		}{
			{"one write", []string{line}},
			{"text then newline", []string{line[:length], "\n"}},
			{"small writes", split(line, 1000)},
			{"odd writes", split(line, maxChunk/3+7)},
			{"after a short line", []string{"short\n" + line}},
			{"after a waiting piece", []string{"pre", line}},
			{"followed by a line", []string{line + "after\n"}},
			{"between lines, small writes", split("a\n"+line+"b\n", 4093)},
		} {
			t.Run(fmt.Sprintf("%d/%s", length, tc.name), func(t *testing.T) {
				var sink chunkSink
				w := NewTextWriter(Output, sink.emit)
				var in string
				for _, s := range tc.writes {
					in += s
					if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
						t.Fatalf("Write = %d, %v", n, err)
					}
				}
				before := len(sink.snapshot())
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if n := len(sink.snapshot()); n != before {
					t.Errorf("Flush emitted %d chunks, want none: everything ended in a newline", n-before)
				}
				recs := sink.snapshot()
				checkChunks(t, recs, Output)
				if got := string(sink.joined()); got != in {
					t.Errorf("chunks joined (%d bytes) differ from the input (%d bytes)", len(got), len(in))
				}
				// Each line is a whole number of records: no record holds the
				// end of one line and the start of the next but at a newline.
				lines := strings.Count(in, "\n")
				if got := sink.count(); got < lines || got > lines+2*(length/maxChunk+1) {
					t.Errorf("counts add up to %d for %d lines", got, lines)
				}
			})
		}
	}
}

// TestTextWriterLongTailAfterNewline writes a line end followed by more than
// maxChunk bytes without a newline, in one Write. The tail must be kept like
// any other waiting piece: cut into pieces of at most maxChunk.
//
// A regression test: before commit 508e6c7 the tail was appended to the
// waiting piece whole, so the piece grew past maxChunk; the next Write
// without a newline then panicked on a negative slice bound, and Flush
// emitted a record larger than maxChunk.
func TestTextWriterLongTailAfterNewline(t *testing.T) {
	tail := strings.Repeat("b", maxChunk+4464) // 70000 bytes
	for _, tc := range []struct {
		name   string
		writes []string
	}{
		{"then Flush", []string{"a\n" + tail}},
		{"then a write without newline", []string{"a\n" + tail, "c"}},
		{"then a line end", []string{"a\n" + tail, "c\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink chunkSink
			w := NewTextWriter(Output, sink.emit)
			var in string
			for _, s := range tc.writes {
				in += s
				n, panicked, err := writeNoPanic(w, []byte(s))
				if panicked != nil {
					t.Fatalf("Write(%d bytes) panicked: %v", len(s), panicked)
				}
				if err != nil || n != len(s) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			checkChunks(t, sink.snapshot(), Output)
			if got := string(sink.joined()); got != in {
				t.Errorf("chunks joined (%d bytes) differ from the input (%d bytes)", len(got), len(in))
			}
		})
	}
}

func writeNoPanic(w *TextWriter, p []byte) (n int, panicked any, err error) {
	defer func() { panicked = recover() }()
	n, err = w.Write(p)
	return n, nil, err
}

// TestTextWriterEmitError passes the emitter's error on.
func TestTextWriterEmitError(t *testing.T) {
	boom := errors.New("boom")
	sink := chunkSink{fail: boom}
	w := NewTextWriter(Output, sink.emit)
	if _, err := w.Write([]byte("line\n")); !errors.Is(err, boom) {
		t.Errorf("Write of a line: err %v, want %v", err, boom)
	}
	if _, err := w.Write([]byte("piece")); err != nil {
		t.Errorf("Write of a waiting piece: err %v, want nil (nothing is emitted yet)", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush: err %v, want %v", err, boom)
	}
	if _, err := w.Write(bytes.Repeat([]byte("z"), maxChunk)); !errors.Is(err, boom) {
		t.Errorf("Write of a whole chunk without newline: err %v, want %v", err, boom)
	}
}

// TestTextWriterConcurrent has several goroutines write whole lines to one
// writer: no line is torn, each goroutine's lines stay in order, and the
// counts add up. Run with -race.
func TestTextWriterConcurrent(t *testing.T) {
	const writers, lines = 8, 500
	var sink chunkSink
	w := NewTextWriter(Output, sink.emit)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				var p []byte
				if i%3 == 0 {
					// Two lines in one write.
					p = fmt.Appendf(nil, "g%d %d\ng%d %d.5\n", g, i, g, i)
				} else {
					p = fmt.Appendf(nil, "g%d %d\n", g, i)
				}
				if _, err := w.Write(p); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	checkChunks(t, sink.snapshot(), Output)
	want := writers * (lines + (lines+2)/3)
	if got := sink.count(); got != want {
		t.Errorf("counts add up to %d, want %d", got, want)
	}
	all := strings.Split(strings.TrimSuffix(string(sink.joined()), "\n"), "\n")
	if len(all) != want {
		t.Fatalf("%d lines, want %d", len(all), want)
	}
	next := make([]float64, writers)
	for _, l := range all {
		var g int
		var v float64
		if _, err := fmt.Sscanf(l, "g%d %g", &g, &v); err != nil || g < 0 || g >= writers {
			t.Fatalf("torn line %q", l)
		}
		if v < next[g] {
			t.Errorf("writer %d: line %q out of order", g, l)
		}
		next[g] = v
	}
}

// TestTextWriterProperty writes random text in random pieces. With lines
// that fit a chunk, the chunks joined are the input, every chunk but a
// flushed tail ends a line, and the counts add up to the lines plus one for
// a tail without newline.
func TestTextWriterProperty(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 42))
		in := randomText(rng, maxChunk-1)
		var sink chunkSink
		w := NewTextWriter(Output, sink.emit)
		for _, p := range randomPieces(rng, in) {
			if n, err := w.Write(p); err != nil || n != len(p) {
				t.Fatalf("seed %d: Write = %d, %v", seed, n, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		recs := sink.snapshot()
		checkChunks(t, recs, Output)
		if !bytes.Equal(sink.joined(), in) {
			t.Fatalf("seed %d: chunks joined differ from the input", seed)
		}
		want := bytes.Count(in, []byte{'\n'})
		if len(in) > 0 && in[len(in)-1] != '\n' {
			want++
		}
		if got := sink.count(); got != want {
			t.Errorf("seed %d: counts add up to %d, want %d", seed, got, want)
		}
		for i, r := range recs[:max(len(recs)-1, 0)] {
			if r.Chunk[len(r.Chunk)-1] != '\n' {
				t.Errorf("seed %d: chunk %d of %d does not end a line", seed, i, len(recs))
			}
		}
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
}

// TestTextWriterPropertyLongLines is TestTextWriterProperty with lines of
// any length: the chunks joined are the input, no chunk exceeds maxChunk,
// and each line is at least one record.
func TestTextWriterPropertyLongLines(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		in := randomText(rng, 3*maxChunk)
		var sink chunkSink
		w := NewTextWriter(Output, sink.emit)
		for _, p := range randomPieces(rng, in) {
			n, panicked, err := writeNoPanic(w, p)
			if panicked != nil {
				t.Fatalf("seed %d: Write panicked: %v", seed, panicked)
			}
			if err != nil || n != len(p) {
				t.Fatalf("seed %d: Write = %d, %v", seed, n, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		checkChunks(t, sink.snapshot(), Output)
		if !bytes.Equal(sink.joined(), in) {
			t.Fatalf("seed %d: chunks joined differ from the input", seed)
		}
		lines := bytes.Count(in, []byte{'\n'})
		if len(in) > 0 && in[len(in)-1] != '\n' {
			lines++
		}
		if got := sink.count(); got < lines {
			t.Errorf("seed %d: counts add up to %d, fewer than %d lines", seed, got, lines)
		}
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
}

// printable is random printable text that randomText takes its lines from.
var printable = func() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 4*maxChunk)
	for i := range b {
		b[i] = byte(' ' + rng.IntN(95))
	}
	return b
}()

// randomText returns random lines, some empty, most short, a few up to
// longest bytes, and maybe a tail without newline.
func randomText(rng *rand.Rand, longest int) []byte {
	text := func(n int) []byte {
		i := rng.IntN(len(printable) - n + 1)
		return printable[i : i+n]
	}
	var b []byte
	for range rng.IntN(300) {
		var n int
		switch rng.IntN(20) {
		case 0:
			n = 0
		case 1:
			n = rng.IntN(longest + 1)
		default:
			n = rng.IntN(80)
		}
		b = append(b, text(n)...)
		b = append(b, '\n')
	}
	if rng.IntN(2) == 0 {
		b = append(b, text(rng.IntN(min(longest, 200)+1))...)
	}
	return b
}

// randomPieces cuts b into pieces of random sizes, including empty ones.
func randomPieces(rng *rand.Rand, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		var n int
		switch rng.IntN(10) {
		case 0:
			n = 0
		case 1:
			n = rng.IntN(2*maxChunk) + 1
		default:
			n = rng.IntN(200) + 1
		}
		n = min(n, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}
