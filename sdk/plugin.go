package sdk

import (
	"context"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCPlugin is protocol 2's go-plugin glue. A plugin sets Impl; the host
// leaves it nil and gets a Client from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Runtime
	desc *Description
	srv  *server
}

// GRPCServer registers the runtime service on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterRuntimeServer(s, p.srv)
	return nil
}

// GRPCClient returns the host's view of a protocol-2 plugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &grpcClient{c: pb.NewRuntimeClient(c)}, nil
}

// GRPCDialOptions are the host's dial options for a protocol-2 plugin.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(WindowSize),
		grpc.WithInitialConnWindowSize(WindowSize),
		grpc.WithReadBufferSize(IOBufferSize),
		grpc.WithWriteBufferSize(IOBufferSize),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
	}
}

func grpcServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.InitialWindowSize(WindowSize),
		grpc.InitialConnWindowSize(WindowSize),
		grpc.ReadBufferSize(IOBufferSize),
		grpc.WriteBufferSize(IOBufferSize),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
	)
	return grpc.NewServer(opts...)
}
