package sdk

import (
	"context"
	"crypto/rand"
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
// HTTP/2 framing and message copies cost. This is the plugin's end; the
// host's reader lives with the host's protocol code.

const tokenLen = 16

// A job that has ended within smallWait of its Run, holding at most
// smallEnd bytes of records, is sent over gRPC (see serveBulk).
const (
	smallWait = 2 * time.Millisecond
	smallEnd  = 64 << 10
)

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
	// The job runs while the host connects: what it prints waits in the
	// spool, which keeps every record until the host acknowledges it, so
	// nothing depends on the connection being there first. A trivial job
	// is over by the time it is (a round trip saved from every job). The
	// stream counts as attached meanwhile, so that the job's Sync (before
	// a command that may take the process down) waits for the host to
	// have its records rather than return at once.
	coming := j.spool.expect()
	defer coming()
	j.begin()
	// A job that ends at once with little to say, as most a batch or a
	// start --wait runs do, sends it all on the gRPC stream instead: the
	// host does not connect here, a connection and two wake-ups fewer a
	// job. A longer job's host connects at most smallWait later than it
	// would, and its records wait in the spool meanwhile as they do anyway.
	if j.spool.endedSmall(ctx, smallWait, smallEnd) {
		return j.spool.stream(ctx, after, send)
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
	// A deep socket buffer lets the job run on while the host writes out
	// the previous batch, instead of the two taking turns.
	if uc, ok := conn.(*net.UnixConn); ok {
		_ = uc.SetWriteBuffer(socketBuffer)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// Where the system allows, the records go into the socket without a
	// copy (see splicer); else in one writev with their header.
	sp := newSplicer(conn)
	if sp != nil {
		defer sp.close()
	}
	var hdr []byte
	return j.spool.stream(ctx, after, func(b *Batch) error {
		head := &pb.Batch{FirstSeq: b.FirstSeq, LastSeq: b.LastSeq, Done: b.Done}
		hdr = protowire.AppendVarint(hdr[:0], uint64(proto.Size(head)))
		var err error
		if hdr, err = (proto.MarshalOptions{}).MarshalAppend(hdr, head); err != nil {
			return err
		}
		hdr = protowire.AppendVarint(hdr, uint64(len(b.Records)))
		if sp != nil {
			return sp.send(hdr, b.Records)
		}
		bufs := net.Buffers{hdr, b.Records}
		_, err = bufs.WriteTo(conn)
		return err
	})
}
