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

// streamWorkers is how many goroutines serve the plugin's calls, reused
// from one call to the next.
const streamWorkers = 8

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
		// Calls served on goroutines that outlive them, whose stacks have
		// grown already: a goroutine a call grew the stack of from its
		// first 8 KiB copied it several times over, a sixth of a thread
		// runtime's CPU on a batch of trivial jobs (each job is a Run and
		// an Ack). A call finding every worker busy (a Run streams for as
		// long as its job runs) gets a goroutine of its own, as without.
		grpc.NumStreamWorkers(streamWorkers),
	)
	return grpc.NewServer(opts...)
}
