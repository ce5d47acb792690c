package api

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Frame kinds. A call begins with the host's FrameHello; then one
// FrameRequest from the CLI is answered by any number of FrameStdout,
// FrameStderr and (when the request's Terminal asks) FrameProgress frames
// and one FrameResult. A caller the host refuses gets a FrameResult instead
// of the hello. A FrameProgress holds exactly one progress record (Progress
// as JSON). A CLI whose request sets Acks (it does when the hello offers
// them) sends FrameAck frames back while the reply streams: each says how
// many bytes of the reply's frames it has written out, so the host counts
// records received only once the caller has them. A caller whose request
// sets Marks gets a FrameMark after each batch of a job's records (see
// Mark).
const (
	FrameHello    = 'H'
	FrameRequest  = 'Q'
	FrameStdout   = 'O'
	FrameStderr   = 'E'
	FrameProgress = 'P'
	FrameResult   = 'R'
	FrameAck      = 'A'
	FrameMark     = 'M'
)

// WireVersion is the version of this framing and its messages. The hello
// carries it, so a CLI that meets a host of another version (one left
// running across an upgrade) says so instead of misreading it.
const WireVersion = 1

// Hello is the payload of FrameHello.
type Hello struct {
	Version int `json:"version"`
	Pid     int `json:"pid"`
	// Acks: the host takes FrameAck (a host of version 1 before them
	// reads any byte from the caller as the caller going away).
	Acks bool `json:"acks,omitempty"`
}

// AppendAck appends a FrameAck saying n bytes of reply frames were taken.
func AppendAck(b []byte, n uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, 9)
	b = append(b, FrameAck)
	return binary.BigEndian.AppendUint64(b, n)
}

// Mark says how far one job's records have reached the caller: through
// sequence number Seq of the job's attempt Attempt (a retry's records are
// numbered afresh), and, with End, the job's end as well (the line saying
// why it failed). start --wait keeps the last mark of each job; when its
// host dies mid-call and it sends the start again (Request.Resume), the
// next host passes on only what follows, so nothing printed before the
// death is printed twice, however the old host's own note of what it
// delivered was cut short.
type Mark struct {
	Job     uint64 `json:"job"`
	Attempt int    `json:"attempt"`
	Seq     uint64 `json:"seq"`
	End     bool   `json:"end,omitempty"`
}

// markSize is a FrameMark's payload: job, attempt and sequence number,
// big-endian, and 1 for the end.
const markSize = 8 + 4 + 8 + 1

// AppendMark appends m as a FrameMark's payload.
func AppendMark(b []byte, m Mark) []byte {
	b = binary.BigEndian.AppendUint64(b, m.Job)
	b = binary.BigEndian.AppendUint32(b, uint32(m.Attempt))
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	if m.End {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendMarkFrame appends m as a whole FrameMark.
func AppendMarkFrame(b []byte, m Mark) []byte {
	b = binary.BigEndian.AppendUint32(b, markSize+1)
	return AppendMark(append(b, FrameMark), m)
}

// ParseMark reads a FrameMark's payload.
func ParseMark(p []byte) (Mark, error) {
	if len(p) != markSize || p[20] > 1 {
		return Mark{}, fmt.Errorf("bad mark frame %q", p)
	}
	return Mark{Job: binary.BigEndian.Uint64(p), Attempt: int(binary.BigEndian.Uint32(p[8:])), Seq: binary.BigEndian.Uint64(p[12:]), End: p[20] == 1}, nil
}

// MaxFrame bounds one frame, so a confused peer cannot make the other side
// allocate without limit. A job's input travels in its request.
const MaxFrame = 256 << 20

// WriteFrame writes one frame: a 4-byte big-endian length (kind and
// payload), the kind byte, the payload.
func WriteFrame(w io.Writer, kind byte, payload []byte) error {
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)+1))
	hdr[4] = kind
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// ReadFrame reads one frame; the payload reuses buf when it is big enough.
// A large payload is read in pieces as it arrives, so a header that claims
// more than the peer sends costs no more memory than what was sent.
func ReadFrame(r *bufio.Reader, buf []byte) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > MaxFrame {
		return 0, nil, fmt.Errorf("bad frame length %d", n)
	}
	n--
	if uint32(cap(buf)) >= n || n <= readPiece {
		if uint32(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return 0, nil, noEOF(err)
		}
		return hdr[4], buf, nil
	}
	buf = buf[:0]
	for uint32(len(buf)) < n {
		k := min(n-uint32(len(buf)), readPiece)
		buf = append(buf, make([]byte, k)...)
		if _, err := io.ReadFull(r, buf[len(buf)-int(k):]); err != nil {
			return 0, nil, noEOF(err)
		}
	}
	return hdr[4], buf, nil
}

// readPiece is how much of a large payload is read (and allocated) at once.
const readPiece = 1 << 20

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF: the frame was
// cut short, which is not a clean end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
