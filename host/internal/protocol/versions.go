package protocol

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bgjob/bgjob/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
)

// version is one protocol the host speaks: how go-plugin carries it and the
// plugin set whose Dispense returns a Conn.
type version struct {
	transport plugin.Protocol
	set       func(*Peer) plugin.PluginSet
}

// versions is the one list of the protocols this host speaks. A plugin may
// serve several; go-plugin picks the newest both sides speak.
var versions = map[int]version{
	sdk.ProtocolV1: {plugin.ProtocolNetRPC, func(*Peer) plugin.PluginSet { return plugin.PluginSet{sdk.PluginName: netRPCPlugin{}} }},
	sdk.ProtocolV2: {plugin.ProtocolGRPC, func(p *Peer) plugin.PluginSet { return plugin.PluginSet{sdk.PluginName: &grpcPlugin{peer: p}} }},
}

// Versions returns the protocol versions the host speaks, oldest first.
func Versions() []int {
	vs := make([]int, 0, len(versions))
	for v := range versions {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	return vs
}

// Supported reports whether the host speaks protocol v.
func Supported(v int) bool {
	_, ok := versions[v]
	return ok
}

// Best is the newest of served that the host speaks: what go-plugin will
// negotiate with a plugin that serves them.
func Best(served []int) (int, bool) {
	best := 0
	for _, v := range served {
		if Supported(v) && v > best {
			best = v
		}
	}
	return best, best > 0
}

// ClientOptions say which plugin process a Client talks to.
type ClientOptions struct {
	// Cmd starts a new plugin process; its environment must be complete
	// (the host's own is never added).
	Cmd *exec.Cmd
	// Reattach finds a process an earlier host started instead; Protocol
	// is the version that host negotiated, which go-plugin's reattach
	// config does not carry on its own.
	Reattach *plugin.ReattachConfig
	Protocol int
	Logger   hclog.Logger
	// Runner starts the process of Cmd instead of go-plugin's own runner:
	// the launcher's, which checks the address the plugin's handshake
	// names before go-plugin dials it (see Peer).
	Runner func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error)
	// Peer is the process every connection must reach (see Peer); nil
	// checks nothing, for tests that serve a plugin in process.
	Peer *Peer
	// Stderr gets what the process writes to its standard error before
	// its SDK takes that over (why a plugin could not start, a panic as
	// it starts), line by line; go-plugin logs such lines at Debug only.
	Stderr io.Writer
}

// NewClient configures a go-plugin client for a plugin process. Every client
// the host makes comes from here.
//
// GRPCBrokerMultiplex stays off, also for a plugin that runs as another
// user (where go-plugin suggests it, so that the plugin need not reach
// broker sockets the host makes): neither protocol opens brokered
// connections, and a multiplexed plugin serves only through the host's
// one connection, so it ends when a host dies and cannot be reattached
// (go-plugin says as much), which would end every job of every user at a
// host restart. The plugin's socket sits in the job's own directory, owned
// by the job's user; the host, root then, reaches it.
func NewClient(o *ClientOptions) (*plugin.Client, error) {
	cfg := &plugin.ClientConfig{
		HandshakeConfig: sdk.Handshake,
		Logger:          o.Logger,
		GRPCDialOptions: grpcDialOptions(),
		Stderr:          o.Stderr,
	}
	if o.Reattach != nil {
		v, ok := versions[o.Protocol]
		if !ok {
			return nil, fmt.Errorf("the runtime process %d speaks protocol %d, which this host does not (it speaks %v)", o.Reattach.Pid, o.Protocol, Versions())
		}
		// go-plugin does not pick the plugin set by a reattach config's
		// version: give it the one set that applies.
		rc := *o.Reattach
		rc.Protocol, rc.ProtocolVersion = v.transport, o.Protocol
		cfg.Reattach = &rc
		cfg.Plugins = v.set(o.Peer)
		cfg.AllowedProtocols = []plugin.Protocol{v.transport}
		return plugin.NewClient(cfg), nil
	}
	if o.Runner != nil {
		// go-plugin wants exactly one of Cmd and RunnerFunc; the runner
		// gets the command as go-plugin completed it.
		// go-plugin's own socket directory (made as the host's user) is
		// dropped: the process keeps the one made for it, its user's.
		// go-plugin made it in the system's temporary directory and
		// removes it only when the client kills the process, so a host
		// that was killed, or a runtime that ended by itself, left one
		// there for every runtime process (18,000 on a test machine,
		// slowing every file created beside them); nothing uses it (no
		// broker sockets, see above), so it goes at once.
		// Its standard input is what the launcher gave it (the binary
		// it runs, see catalog.Command), never the host's: go-plugin
		// sets the host's on its own command, not on this one.
		cmd := o.Cmd
		cfg.RunnerFunc = func(l hclog.Logger, c *exec.Cmd, pluginDir string) (runner.Runner, error) {
			if pluginDir != "" {
				_ = os.Remove(pluginDir)
			}
			for _, kv := range c.Env {
				if !strings.HasPrefix(kv, plugin.EnvUnixSocketDir+"=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			return o.Runner(l, cmd, "")
		}
	} else {
		cfg.Cmd = o.Cmd
	}
	cfg.SkipHostEnv = true
	cfg.StartTimeout = 30 * time.Second
	cfg.VersionedPlugins = map[int]plugin.PluginSet{}
	for n, v := range versions {
		cfg.VersionedPlugins[n] = v.set(o.Peer)
		if !slices.Contains(cfg.AllowedProtocols, v.transport) {
			cfg.AllowedProtocols = append(cfg.AllowedProtocols, v.transport)
		}
	}
	return plugin.NewClient(cfg), nil
}

// Dispense connects to the plugin and returns its Conn.
func Dispense(c *plugin.Client) (Conn, error) {
	rpc, err := c.Client()
	if err != nil {
		return nil, err
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return nil, err
	}
	conn, ok := raw.(Conn)
	if !ok {
		return nil, fmt.Errorf("the plugin does not serve a bgjob runtime")
	}
	return conn, nil
}
