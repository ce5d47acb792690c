package sdk

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// TestSplicer sends batches through the splicer, of sizes around a page and
// beyond what the pipe and the socket hold at once, from offsets that are
// not page-aligned: every byte arrives, in order, and the header (a buffer
// the caller reuses at once) is copied, not referred to.
func TestSplicer(t *testing.T) {
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
	for i, n := range []int{1, 4095, 4096, 4097, 65536, len(big) - 3} {
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
		t.Fatalf("received %d bytes, want %d; they differ", len(b), want.Len())
	}
}
