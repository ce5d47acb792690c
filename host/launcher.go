package host

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// pluginSets lists the protocols the host speaks; go-plugin picks the newest
// one the plugin speaks too.
func pluginSets() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		sdk.ProtocolVersion: {sdk.PluginName: &sdk.GRPCPlugin{}},
	}
}

// launched is a running runtime plugin for one job.
type launched struct {
	client   *plugin.Client
	conn     sdk.Client
	reattach *reattach
}

// end stops the runtime process and removes its socket directory.
func (l *launched) end() {
	l.client.Kill()
	if l.reattach != nil {
		_ = os.RemoveAll(l.reattach.SockDir)
	}
}

// launchConfig is what launch needs to know about a job.
type launchConfig struct {
	Binary  string // absolute path, verified
	Workdir string
	SockDir string // per-job directory for the plugin's socket
	LogFile string // per-job log: the plugin's and the launcher's
	Logger  hclog.Logger
	Env     []string // more environment for the plugin process
}

// launch starts a runtime plugin for one job.
//
// The plugin's environment is built here, not inherited (SkipHostEnv): the
// job's own environment travels in its RunRequest, so nothing of the
// daemon's environment leaks into jobs. The plugin gets its own process
// group so a terminal's Ctrl-C aimed at the host does not reach it, and its
// own socket directory, removed with the job.
func launch(c *launchConfig) (*launched, error) {
	if err := os.MkdirAll(c.SockDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the job's socket directory: %w", err)
	}
	cmd := exec.Command(c.Binary)
	cmd.Dir = c.Workdir
	cmd.Env = []string{
		sdk.EnvLogFile + "=" + c.LogFile,
		// go-plugin passes its own socket directory only to custom
		// runners; a plugin reads this variable either way.
		"PLUGIN_UNIX_SOCKET_DIR=" + c.SockDir,
		"PATH=/usr/local/bin:/usr/bin:/bin",
	}
	cmd.Env = append(cmd.Env, c.Env...)
	ownProcessGroup(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: pluginSets(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           c.Logger,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		StartTimeout:     30 * time.Second,
	})
	l, err := dispense(client)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("cannot start the runtime %s: %w", c.Binary, err)
	}
	rc := client.ReattachConfig()
	if rc != nil && rc.Addr != nil {
		l.reattach = &reattach{Network: rc.Addr.Network(), Addr: rc.Addr.String(), Pid: rc.Pid,
			Protocol: client.NegotiatedVersion(), SockDir: c.SockDir}
	}
	return l, nil
}

// reconnect attaches to a runtime plugin started by an earlier host.
func reconnect(r *reattach, logger hclog.Logger) (*launched, error) {
	var addr net.Addr
	switch r.Network {
	case "unix":
		addr = &net.UnixAddr{Net: "unix", Name: r.Addr}
	default:
		a, err := net.ResolveTCPAddr(r.Network, r.Addr)
		if err != nil {
			return nil, err
		}
		addr = a
	}
	if !processAlive(r.Pid) {
		return nil, fmt.Errorf("the runtime process %d is gone", r.Pid)
	}
	set, ok := pluginSets()[r.Protocol]
	if !ok {
		return nil, fmt.Errorf("the runtime process %d speaks protocol %d, which this host does not", r.Pid, r.Protocol)
	}
	// go-plugin does not pick the plugin set from a reattach config's
	// protocol version; give it the one set that applies.
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: sdk.Handshake,
		Plugins:         set,
		Reattach: &plugin.ReattachConfig{
			Protocol:        plugin.ProtocolGRPC,
			ProtocolVersion: r.Protocol,
			Addr:            addr,
			Pid:             r.Pid,
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
	})
	l, err := dispense(client)
	if err != nil {
		return nil, fmt.Errorf("cannot reattach to the runtime process %d: %w", r.Pid, err)
	}
	l.reattach = r
	return l, nil
}

func dispense(client *plugin.Client) (*launched, error) {
	rpc, err := client.Client()
	if err != nil {
		return nil, err
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return nil, err
	}
	conn, ok := raw.(sdk.Client)
	if !ok {
		return nil, fmt.Errorf("the plugin does not serve a bgjob runtime")
	}
	return &launched{client: client, conn: conn}, nil
}

// jobLogger returns a logger writing to the job's log file.
func jobLogger(path string) (hclog.Logger, *os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return hclog.New(&hclog.LoggerOptions{Name: "runtime", Output: f, Level: hclog.Info}), f, nil
}
