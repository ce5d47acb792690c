//go:build linux

// Command floorclient makes the call `bgjob start -- true` makes, and
// nothing else: it connects to the host of $BGJOB_HOME, reads the hello,
// sends the same start request (a fresh instance id, the script, the
// working directory, the environment, the umask; stdout and stderr
// attached) and reads the answer. It has none of the CLI's own work: no
// command tree, no flags, no checks of the home, no fallback to starting a
// host.
//
// It is the floor the CLI's submit is held to in bench/peers.sh and
// bench/breakdown.sh: what a Go process started afresh and the host's
// answer cost on this machine. What bgjob's submit costs above it is the
// CLI's; what it costs above a Go hello is the call and the host.
//
// With -hello it connects, reads the host's hello and exits: the floor of
// any call, a Go process and one exchange with the host, before a request.
//
// With -serve SOCKET FILE it is the least server a durable submit needs:
// for each connection it reads one request, writes it to the next 4 KiB of
// FILE, fdatasyncs and answers. With -trivial SOCKET it is that server's
// client: it connects, sends a request of a start's size, and reads the
// answer. The two are the floor of the design itself (a Go CLI started
// afresh, one socket exchange, one fdatasync) with none of bgjob's work on
// either side.
//
// The request is written here as JSON by hand rather than with host/api,
// whose packages' initialisation is part of what the floor leaves out; if
// the protocol moves on, the hello says another version or the host
// refuses the request, and this exits non-zero saying so, which the bench
// scripts report.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// wireVersion is the version of the host's protocol this client speaks
// (host/api's WireVersion), which the hello carries.
const wireVersion = 1

type startRequest struct {
	InstanceID string   `json:"instanceId"`
	Script     string   `json:"script"`
	Workdir    string   `json:"workdir"`
	Env        []string `json:"env"`
	Umask      int      `json:"umask"`
}

type request struct {
	Op     string        `json:"op"`
	Start  *startRequest `json:"start"`
	Output string        `json:"output"`
	Acks   bool          `json:"acks"`
}

func main() {
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "-serve":
		err = serve(os.Args[2], os.Args[3])
	case len(os.Args) == 3 && os.Args[1] == "-trivial":
		err = trivial(os.Args[2])
	default:
		err = submit()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorclient:", err)
		os.Exit(1)
	}
}

func submit() error {
	home := os.Getenv("BGJOB_HOME")
	if home == "" {
		return fmt.Errorf("set BGJOB_HOME to the home of a running host")
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: filepath.Join(home, "host.sock")}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	conn := os.NewFile(uintptr(fd), "host.sock")
	r := bufio.NewReader(conn)
	kind, p, err := readFrame(r)
	if err != nil {
		return fmt.Errorf("no hello from the host: %w", err)
	}
	if kind != 'H' {
		return fmt.Errorf("the host answered %q in place of its hello: %s", kind, p)
	}
	var hello struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(p, &hello); err != nil || hello.Version != wireVersion {
		return fmt.Errorf("the host's hello %s is not version %d of the protocol, which this client speaks", p, wireVersion)
	}
	if len(os.Args) > 1 && os.Args[1] == "-hello" {
		return nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	body, err := json.Marshal(request{
		Op:     "start",
		Start:  &startRequest{InstanceID: uuid(), Script: "true", Workdir: wd, Env: os.Environ(), Umask: umask},
		Output: "table",
		Acks:   true,
	})
	if err != nil {
		return err
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)+1))
	frame = append(append(frame, 'Q'), body...)
	if err := syscall.Sendmsg(fd, frame, syscall.UnixRights(1, 2), nil, 0); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	for {
		kind, p, err := readFrame(r)
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		if kind == 'R' {
			var res struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(p, &res); err != nil || res.Error != "" {
				return fmt.Errorf("the host answered %s", p)
			}
			return nil
		}
	}
}

// readFrame reads one frame: a 4-byte big-endian length of kind and
// payload, the kind, the payload.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > 1<<20 {
		return 0, nil, fmt.Errorf("bad frame length %d", n)
	}
	p := make([]byte, n-1)
	_, err := io.ReadFull(r, p)
	return hdr[4], p, err
}

// uuid is a version 4 UUID from getrandom(2), as the CLI makes one.
func uuid() string {
	var b [16]byte
	if _, _, e := syscall.Syscall(unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0); e != 0 {
		panic(e)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// serve is the least server of a durable submit (see -serve above); it
// runs until killed.
func serve(sock, file string) error {
	os.Remove(sock)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		return err
	}
	if err := syscall.Listen(fd, 64); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	const size = 1 << 20
	if err := f.Truncate(size); err != nil {
		return err
	}
	page := make([]byte, 4096)
	for off := int64(0); ; off = (off + 4096) % size {
		c, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC)
		if err != nil {
			continue
		}
		n, _ := syscall.Read(c, page)
		if n > 0 {
			if _, err := f.WriteAt(page, off); err == nil && unix.Fdatasync(int(f.Fd())) == nil {
				syscall.Write(c, []byte("ok"))
			}
		}
		syscall.Close(c)
	}
}

// trivial is serve's client: one request of a start's size, one answer.
func trivial(sock string) error {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	req := make([]byte, 1536)
	copy(req, `{"op":"start","start":{"script":"true"}}`)
	if _, err := syscall.Write(fd, req); err != nil {
		return err
	}
	var ans [2]byte
	if n, err := syscall.Read(fd, ans[:]); err != nil || n != 2 {
		return fmt.Errorf("no answer from the server (%d bytes, %v)", n, err)
	}
	return nil
}
