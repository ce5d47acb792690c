package api

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReadFrame reads frames from any bytes until an error: ReadFrame must
// not panic, must never return a payload larger than MaxFrame allows, and
// each frame it returns must be exactly the bytes it consumed, as WriteFrame
// writes them. The checked-in seeds are in testdata/fuzz/FuzzReadFrame/.
func FuzzReadFrame(f *testing.F) {
	frame := func(kind byte, payload string) []byte {
		var b bytes.Buffer
		if err := WriteFrame(&b, kind, []byte(payload)); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	header := func(n uint32, kind byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, n), kind)
	}
	call := bytes.Join([][]byte{
		frame(FrameHello, `{"version":1,"pid":4242}`),
		frame(FrameRequest, `{"op":"ping"}`),
		frame(FrameStdout, "hello\n"),
		frame(FrameStderr, ""),
		frame(FrameResult, `{"code":0}`),
	}, nil)
	for _, b := range [][]byte{
		{},
		call,
		frame(FrameStdout, strings.Repeat("x", 300)),
		call[:len(call)-1],                    // the last frame torn
		header(0, FrameStdout),                // a length without the kind
		header(MaxFrame+1, FrameStdout),       // too long
		append(header(1<<16, FrameResult), 0), // a long frame cut short
		{0, 0, 0},                             // a short header
		frame(FrameStdout, "x")[:5],           // a header and no payload
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		off := 0
		for {
			kind, payload, err := ReadFrame(br, nil)
			if err != nil {
				checkFrameError(t, b, off, err)
				return
			}
			if len(payload) > MaxFrame-1 {
				t.Fatalf("frame at %d: a payload of %d bytes, more than MaxFrame allows", off, len(payload))
			}
			var w bytes.Buffer
			if err := WriteFrame(&w, kind, payload); err != nil {
				t.Fatal(err)
			}
			n := w.Len()
			if off+n > len(b) || !bytes.Equal(w.Bytes(), b[off:off+n]) {
				t.Fatalf("frame at %d (kind %q, %d bytes of payload) writes back as %x, not as the bytes read", off, kind, len(payload), w.Bytes())
			}
			off += n
		}
	})
}

// checkFrameError checks the error that ended reading b at frame offset off.
func checkFrameError(t *testing.T, b []byte, off int, err error) {
	t.Helper()
	rest := b[off:]
	switch {
	case len(rest) == 0:
		if err != io.EOF {
			t.Fatalf("at the end of the input after whole frames: %v, want io.EOF", err)
		}
	case len(rest) < 5:
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("in a header cut to %d bytes: %v, want io.ErrUnexpectedEOF", len(rest), err)
		}
	default:
		n := binary.BigEndian.Uint32(rest[:4])
		switch {
		case n == 0 || n > MaxFrame:
			if err == nil || !strings.Contains(err.Error(), "bad frame length") {
				t.Fatalf("length %d: %v, want a bad frame length", n, err)
			}
		case int64(len(rest)) >= 4+int64(n):
			t.Fatalf("a whole frame of length %d at %d: %v", n, off, err)
		// A frame whose payload is missing altogether reads as io.EOF
		// today, as io.ReadFull reports it; io.ErrUnexpectedEOF would be
		// as right.
		case len(rest) == 5:
			if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("a header of length %d and no payload: %v, want io.EOF or io.ErrUnexpectedEOF", n, err)
			}
		default:
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("a frame of length %d cut to %d bytes: %v, want io.ErrUnexpectedEOF", n, len(rest), err)
			}
		}
	}
}
