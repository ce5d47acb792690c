package sdk

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The bulk transfer (see Batch.bulk_address in the proto): batches on a
// plain unix socket, so that a job printing gigabytes is not held to what
// HTTP/2 framing and message copies cost.

const tokenLen = 16

// socketBuffer is the bulk socket's send buffer (the kernel caps it at
// net.core.wmem_max).
const socketBuffer = 4 << 20

// bulkListener is the plugin's one bulk socket; each Run that asks for bulk
// transfer registers a token and waits for the host to connect with it.
type bulkListener struct {
	once    sync.Once
	err     error
	ln      net.Listener
	addr    string
	ownDir  string // a directory listen made, removed by close
	mu      sync.Mutex
	pending map[string]chan net.Conn
}

// listen opens the socket in the directory go-plugin gave the plugin for
// its sockets (per job, owned by the job's user), once.
func (b *bulkListener) listen() error {
	b.once.Do(func() {
		dir := os.Getenv("PLUGIN_UNIX_SOCKET_DIR")
		if dir == "" {
			if dir, b.err = os.MkdirTemp("", "bgjob-bulk"); b.err != nil {
				return
			}
			b.ownDir = dir
		}
		b.addr = filepath.Join(dir, fmt.Sprintf("bulk%d", os.Getpid()))
		b.ln, b.err = net.Listen("unix", b.addr)
		if b.err != nil {
			return
		}
		b.pending = map[string]chan net.Conn{}
		go b.accept()
	})
	return b.err
}

// close removes the socket, and the directory if listen made it.
func (b *bulkListener) close() {
	if b.ln == nil {
		return
	}
	b.ln.Close()
	os.Remove(b.addr)
	if b.ownDir != "" {
		os.RemoveAll(b.ownDir)
	}
}

func (b *bulkListener) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			tok := make([]byte, tokenLen)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, tok); err != nil {
				c.Close()
				return
			}
			_ = c.SetReadDeadline(time.Time{})
			b.mu.Lock()
			ch := b.pending[string(tok)]
			delete(b.pending, string(tok))
			b.mu.Unlock()
			if ch == nil {
				c.Close()
				return
			}
			ch <- c
		}()
	}
}

// expect registers a fresh token and returns it with the channel its
// connection arrives on.
func (b *bulkListener) expect() ([]byte, chan net.Conn) {
	tok := make([]byte, tokenLen)
	_, _ = rand.Read(tok)
	ch := make(chan net.Conn, 1)
	b.mu.Lock()
	b.pending[string(tok)] = ch
	b.mu.Unlock()
	return tok, ch
}

func (b *bulkListener) forget(tok []byte) {
	b.mu.Lock()
	delete(b.pending, string(tok))
	b.mu.Unlock()
}

// serveBulk streams a job's spool over the bulk socket: it tells the host
// where to connect through the gRPC stream, then writes the batches there.
func (s *server) serveBulk(ctx context.Context, j *serverJob, after uint64, send func(*Batch) error) error {
	if err := s.bulk.listen(); err != nil {
		return fmt.Errorf("cannot open the bulk socket: %w", err)
	}
	tok, ch := s.bulk.expect()
	if err := send(&Batch{BulkAddress: s.bulk.addr, BulkToken: tok}); err != nil {
		s.bulk.forget(tok)
		return err
	}
	var conn net.Conn
	select {
	case conn = <-ch:
	case <-ctx.Done():
		s.bulk.forget(tok)
		return ctx.Err()
	case <-time.After(30 * time.Second):
		s.bulk.forget(tok)
		return errors.New("the host did not connect to the bulk socket")
	}
	defer conn.Close()
	j.begin()
	// A deep socket buffer lets the job run on while the host writes out
	// the previous batch, instead of the two taking turns.
	if uc, ok := conn.(*net.UnixConn); ok {
		_ = uc.SetWriteBuffer(socketBuffer)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var hdr []byte
	return j.spool.stream(ctx, after, func(b *Batch) error {
		head := &pb.Batch{FirstSeq: b.FirstSeq, LastSeq: b.LastSeq, Done: b.Done}
		hdr = protowire.AppendVarint(hdr[:0], uint64(proto.Size(head)))
		var err error
		if hdr, err = (proto.MarshalOptions{}).MarshalAppend(hdr, head); err != nil {
			return err
		}
		hdr = protowire.AppendVarint(hdr, uint64(len(b.Records)))
		bufs := net.Buffers{hdr, b.Records}
		_, err = bufs.WriteTo(conn)
		return err
	})
}

// bulkStream is the host's end of the bulk socket. The Records of a batch
// it returns are valid until the next Recv.
type bulkStream struct {
	done bool
	conn net.Conn
	r    *bufio.Reader
	hdr  []byte
	buf  []byte
	grpc BatchStream // kept open while the socket is used
}

func dialBulk(ctx context.Context, first *Batch, rest BatchStream) (*bulkStream, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", first.BulkAddress)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to the runtime's bulk socket: %w", err)
	}
	if _, err := conn.Write(first.BulkToken); err != nil {
		conn.Close()
		return nil, err
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	return &bulkStream{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), grpc: rest}, nil
}

func (s *bulkStream) Recv() (*Batch, error) {
	if s.done {
		return nil, io.EOF
	}
	var err error
	if s.hdr, err = s.readBlock(s.hdr, 1<<20, "batch header"); err != nil {
		return nil, err
	}
	b := new(Batch)
	if err := proto.Unmarshal(s.hdr, b); err != nil {
		return nil, fmt.Errorf("bulk stream: %w", err)
	}
	if s.buf, err = s.readBlock(s.buf, MaxMessageSize, "batch"); err != nil {
		return nil, err
	}
	if len(s.buf) > 0 {
		b.Records = s.buf
	}
	if b.Done != nil {
		// The end: the plugin ends its gRPC stream after this batch.
		s.done = true
		s.conn.Close()
		go func() {
			for s.grpc != nil {
				if _, err := s.grpc.Recv(); err != nil {
					return
				}
			}
		}()
	}
	return b, nil
}

// readBlock reads one uvarint-length-prefixed block into buf (grown as
// needed), refusing blocks over limit.
func (s *bulkStream) readBlock(buf []byte, limit uint64, what string) ([]byte, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return buf, s.fail(err)
	}
	if n > limit {
		return buf, fmt.Errorf("bulk stream: %s of %d bytes", what, n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(s.r, buf); err != nil {
		return buf, s.fail(err)
	}
	return buf, nil
}

// fail turns a broken socket into the reason the gRPC stream gives, which
// says more (the plugin's process ended, the host is closing).
func (s *bulkStream) fail(err error) error {
	s.conn.Close()
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("the runtime's record stream broke: %w", err)
}
