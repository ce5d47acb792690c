package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/proto"
)

// bulkStream is the host's end of a plugin's bulk socket (see
// Batch.bulk_address in the proto): each batch is a uvarint-length Batch
// header without records, then the uvarint-length records. The Records of a
// batch it returns are valid until the next Recv.
type bulkStream struct {
	done bool
	conn net.Conn
	r    *bufio.Reader
	hdr  []byte
	buf  []byte
	grpc Stream // kept open while the socket is used
}

func dialBulk(ctx context.Context, peer *Peer, first *sdk.Batch, rest Stream) (*bulkStream, error) {
	var conn net.Conn
	var err error
	if peer != nil {
		conn, err = peer.Dial(ctx, first.BulkAddress)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", first.BulkAddress)
	}
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

func (s *bulkStream) Recv() (*sdk.Batch, error) {
	if s.done {
		return nil, io.EOF
	}
	var err error
	if s.hdr, err = s.readBlock(s.hdr, 1<<20, "batch header"); err != nil {
		return nil, err
	}
	b := new(sdk.Batch)
	if err := proto.Unmarshal(s.hdr, b); err != nil {
		return nil, fmt.Errorf("bulk stream: %w", err)
	}
	if s.buf, err = s.readBlock(s.buf, sdk.MaxMessageSize, "batch"); err != nil {
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
