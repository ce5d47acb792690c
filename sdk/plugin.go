package sdk

import (
	"context"
	"errors"

	pb "github.com/bgjob/bgjob/sdk/proto/runtimev2"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// grpcPlugin is protocol 2's go-plugin glue on the plugin's side; Serve
// builds it. The host has its own glue (a plugin never dials a host).
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

// GRPCServer registers the runtime service on the plugin's gRPC server.
func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterRuntimeServer(s, p.srv)
	return nil
}

// GRPCClient is the host's business, not a plugin's.
func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, errors.New("sdk: the plugin side of the protocol has no client; the host brings its own")
}

// grpcServer builds the plugin's gRPC server; conns, if set, learns of
// every connection made and lost.
func grpcServer(opts []grpc.ServerOption, conns stats.Handler) *grpc.Server {
	if conns != nil {
		opts = append(opts, grpc.StatsHandler(conns))
	}
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
