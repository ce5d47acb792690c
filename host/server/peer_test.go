//go:build unix

package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgjob/bgjob/host/api"
)

// A connection whose peer the kernel cannot name is refused, by a user's
// host and by a system host alike, before its request is read: who calls
// is never taken from what the client says.
func TestServeRefusesUnidentifiedPeer(t *testing.T) {
	for _, system := range []bool{false, true} {
		name := map[bool]string{false: "user host", true: "system host"}[system]
		t.Run(name, func(t *testing.T) {
			th := fakeHost(t)
			sock := filepath.Join(th.Dir, "x.sock")
			s := &server{h: th.Host, log: th.Host.Logger(), system: system,
				peer: func(*net.UnixConn) (api.Cred, error) { return api.Cred{}, errors.New("no credentials on this socket") }}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- s.serve(ctx, sock) }()
			defer func() {
				cancel()
				<-served
			}()
			c, kind, p := dialFrame(t, sock)
			defer c.Close()
			var res api.Result
			if kind != api.FrameResult || json.Unmarshal(p, &res) != nil {
				t.Fatalf("frame %c %q, want a result", kind, p)
			}
			if res.Code != api.ExitUnavailable || !strings.Contains(res.Error, "cannot tell who is calling") {
				t.Errorf("code %d %q, want a refusal naming why with code %d", res.Code, res.Error, api.ExitUnavailable)
			}
		})
	}
}
