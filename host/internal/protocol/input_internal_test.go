package protocol

import (
	"context"
	"errors"
	"net"
	"testing"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// oldPlugin serves protocol 2 as a plugin built before Input did.
type oldPlugin struct{ pb.UnimplementedRuntimeServer }

// refusingPlugin answers Input as the SDK does for a job that cannot take it.
type refusingPlugin struct{ pb.UnimplementedRuntimeServer }

func (refusingPlugin) Input(context.Context, *pb.InputRequest) (*pb.InputResponse, error) {
	return nil, status.Error(codes.FailedPrecondition, "the job's input is closed already (it was sent --eof)")
}

// A send reaches the user in words: a plugin that does not know Input is
// ErrNoInput, a plugin's refusal is its own message, and protocol 1 has no
// input at all.
func TestInput(t *testing.T) {
	if _, ok := Conn(&netRPCConn{}).(InputConn); ok {
		t.Error("protocol 1's Conn takes input; it has no call for it")
	}
	tests := []struct {
		name   string
		server pb.RuntimeServer
		is     error
		msg    string
	}{
		{"plugin predates input", oldPlugin{}, ErrNoInput, ErrNoInput.Error()},
		{"plugin refuses", refusingPlugin{}, nil, "the job's input is closed already (it was sent --eof)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := grpc.NewServer()
			pb.RegisterRuntimeServer(srv, tt.server)
			l := bufconn.Listen(1 << 16)
			go func() { _ = srv.Serve(l) }()
			defer srv.Stop()
			cc, err := grpc.NewClient("passthrough:///input",
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			var c Conn = &grpcConn{c: pb.NewRuntimeClient(cc)}
			err = c.(InputConn).Input(context.Background(), 1, []byte("x\n"), false)
			if err == nil || err.Error() != tt.msg || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Input: %v, want %q", err, tt.msg)
			}
		})
	}
}
