package sdk

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSplicer sends batches through the splicer, of sizes around a page and
// beyond what the pipe and the socket hold at once, from offsets that are
// not page-aligned: every byte arrives, in order, and the header (a buffer
// the caller reuses at once) is copied, not referred to. A system that
// refuses a splice midway (as a filter might) gets the rest written, in
// order, and later batches too.
func TestSplicer(t *testing.T) {
	tests := []struct {
		name     string
		refuseAt int // the splice call that fails with EINVAL; 0: none
	}{
		{"spliced", 0},
		{"refused at the first splice", 1},
		{"refused midway", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.refuseAt > 0 {
				real, calls := spliceTo, 0
				spliceTo = func(r, fd, n int) (int, error) {
					if calls++; calls == tt.refuseAt {
						return 0, unix.EINVAL
					}
					return real(r, fd, n)
				}
				t.Cleanup(func() { spliceTo = real })
			}
			ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				accepted <- c
			}()
			w, err := net.Dial("unix", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			r := <-accepted
			if r == nil {
				t.Fatal("no connection")
			}
			defer r.Close()
			sp := newSplicer(w)
			if sp == nil {
				t.Skip("this system refuses vmsplice")
			}
			defer sp.close()

			big := make([]byte, 3*splicePipeSize+12345)
			for i := range big {
				big[i] = byte(i * 7)
			}
			var want bytes.Buffer
			got := make(chan []byte)
			go func() {
				b, _ := io.ReadAll(r)
				got <- b
			}()
			hdr := make([]byte, 0, 16)
			for i, n := range []int{1, 4095, 4096, 4097, 65536, len(big) - 3, 100} {
				recs := big[3 : 3+n]
				hdr = append(hdr[:0], byte(i), byte(n), byte(n>>8))
				if err := sp.send(hdr, recs); err != nil {
					t.Fatalf("send %d bytes: %v", n, err)
				}
				want.Write(hdr)
				want.Write(recs)
				hdr[0] = 0xff // reused at once, as bulk.go does
			}
			w.Close()
			if b := <-got; !bytes.Equal(b, want.Bytes()) {
				i := 0
				for i < min(len(b), want.Len()) && b[i] == want.Bytes()[i] {
					i++
				}
				t.Fatalf("received %d bytes, want %d; first difference at byte %d", len(b), want.Len(), i)
			}
			if sp.off != (tt.refuseAt > 0) {
				t.Errorf("splicer off: %v", sp.off)
			}
		})
	}
}
