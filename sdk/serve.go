package sdk

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ServeConfig describes a plugin to Serve.
type ServeConfig struct {
	// Name and Version identify the plugin in the catalog; Version is semver.
	Name    string
	Version string
	// Runtime runs the plugin's plain jobs (BackgroundJob), if it is a
	// runtime.
	Runtime Runtime
	// Types are the custom job types the plugin serves (see JobType), if
	// any; they are served over protocol 2.
	Types []JobType
	// Protocols lists the protocol versions to serve (ProtocolV1,
	// ProtocolV2 or both); empty means protocol 2 only.
	Protocols []int
	// Reusable says the plugin's jobs leave nothing behind in the process
	// that the next job would see, so the host may run further jobs, one
	// at a time, in the same process (over protocol 2) instead of starting
	// one per job; and thread jobs (start --thread, a batch's children
	// unless --processes), several at once in a shared process, where
	// each job's Workdir and Umask are the runtime's to apply. The SDK gives each job its own working directory and
	// file mode creation mask; the runtime must keep the rest of its
	// state per job (the shell runtime: a fresh interpreter each time).
	Reusable bool
	// EndLeftovers makes the plugin's process, on Linux, a child
	// subreaper that ends what each job leaves running when it ends,
	// however far it strayed (a new session, a double fork): see
	// StartChild, through which the runtime must then start every child
	// process it waits for itself (any other child is taken for a
	// leftover). Elsewhere it changes nothing.
	EndLeftovers bool
}

// processInstance tells one plugin process from another with the same pid.
var processInstance = func() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

const defaultOrphanTimeout = time.Hour

// defaultAbandonWait is how long a process that may have been given a job
// waits for its host to come back after the host's connection dropped: as
// long as a killed host takes to be started again by the next command, or
// by its service manager, with room to spare.
const defaultAbandonWait = time.Minute

// Serve runs the plugin until the host shuts it down. Run by hand with the single
// argument `describe`, the binary prints its Description as JSON and exits,
// which is how `bgjob runtime install` checks a binary without a handshake.
func Serve(cfg *ServeConfig) {
	desc, err := cfg.description()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	if len(os.Args) == 2 && os.Args[1] == "describe" {
		enc := json.NewEncoder(os.Stdout)
		if err := enc.Encode(desc); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	nullStdin()
	logger := pluginLogger(cfg.Name)
	outliveHost()
	orphan := defaultOrphanTimeout
	if v := os.Getenv(EnvOrphanTimeout); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			orphan = d
		}
	}
	if os.Getenv(EnvIgnoreTerm) != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	srv := newServer(cfg, desc, logger)
	srv.inProcess = os.Getenv(EnvShared) != ""
	if cfg.EndLeftovers && subreaperSupported {
		if err := becomeSubreaper(); err != nil {
			// Orphans would go to init, out of sight: the process
			// cannot vouch for what a job leaves, so runs one job.
			logger.Warn("this process runs one job only", "err", err)
			srv.retired.Store(true)
		} else {
			srv.left.enabled = true
		}
	}
	if d, err := time.ParseDuration(os.Getenv(EnvIdleTimeout)); err == nil {
		srv.idleTimeout = d
	}
	// The host reads the process's standard output (go-plugin's
	// handshake) for as long as it lives.
	srv.launcherGone = func() bool { return pipeClosed(1) }
	go srv.watch(orphan, os.Exit)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(desc, srv),
		GRPCServer:       func(opts []grpc.ServerOption) *grpc.Server { return grpcServer(opts, connCounter{srv}) },
		Logger:           logger,
	})
	// The host shut the plugin down.
	srv.bulk.close()
}

// pluginLogger logs to the file the host names, so that nothing is written to
// stdout (the handshake) or to a stderr whose reader may be gone. The
// standard library's log (go-plugin's net/rpc server logs through it) and
// the process's standard error itself go there too (see logToFile), so
// that no message, and no panic, is written to the host's pipe.
func pluginLogger(name string) hclog.Logger {
	var out io.Writer = os.Stderr
	if path := os.Getenv(EnvLogFile); path != "" {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			out = f
			logToFile(f)
		} else {
			fmt.Fprintf(os.Stderr, "cannot open plugin log %s: %v\n", path, err)
		}
	}
	log.SetOutput(out)
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: out, Level: hclog.Info, JSONFormat: false})
}

// outliveHost keeps the process alive when its host is gone. A runtime
// outlives its host on purpose (the next host reattaches), but its standard
// output and error are pipes to the host that started it: a Go program
// that writes to a broken pipe on descriptor 1 or 2 dies of SIGPIPE unless
// it handles the signal. Handled (not ignored, which children would
// inherit), such a write is an error like any other, and the job's own
// commands still get the default action.
func outliveHost() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

// description is what the plugin cfg configures says about itself, or
// what is wrong with cfg.
func (cfg *ServeConfig) description() (*Description, error) {
	if cfg.Runtime == nil && len(cfg.Types) == 0 {
		return nil, errors.New("the plugin serves nothing: its ServeConfig has neither a Runtime nor Types")
	}
	protocols := slices.Sorted(slices.Values(cfg.Protocols))
	if len(protocols) == 0 {
		protocols = []int{ProtocolV2}
	}
	// A plugin that runs scripts is a runtime, whatever types it serves
	// besides; one that only serves types is no runtime to pick by name.
	kind := KindRuntime
	if cfg.Runtime == nil {
		kind = KindJobType
	}
	var types []TypeInfo
	for _, t := range cfg.Types {
		info := typeInfo(t)
		if err := CheckTypeName(info.Name); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(types, func(o TypeInfo) bool { return o.Name == info.Name }) {
			return nil, fmt.Errorf("the job type %s is served twice", info.Name)
		}
		types = append(types, info)
	}
	if len(types) > 0 && !slices.Contains(protocols, ProtocolV2) {
		return nil, errors.New("job types are served over protocol 2, which the plugin's Protocols leave out")
	}
	d := describe(cfg.Name, cfg.Version, kind, types, slices.Compact(protocols))
	d.Reusable = cfg.Reusable
	return d, nil
}

// PluginSets returns the go-plugin plugin sets that serve cfg's plugin, one
// per protocol it lists, sharing one job table: what Serve serves. A test
// harness serves them in its own process (see sdktest.Protocol). The server
// does not own that process, so it leaves its working directory and mask
// alone: the harness enters the job's directory itself (Job's Workdir
// states the rule).
func PluginSets(cfg *ServeConfig) (map[int]plugin.PluginSet, error) {
	d, err := cfg.description()
	if err != nil {
		return nil, err
	}
	srv := newServer(cfg, d, hclog.NewNullLogger())
	srv.inProcess = true
	return pluginSets(d, srv), nil
}

// pluginSets are the go-plugin plugin sets of the protocols d lists.
func pluginSets(d *Description, srv *server) map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{}
	for _, v := range d.Protocols {
		switch v {
		case ProtocolV1:
			sets[v] = plugin.PluginSet{PluginName: &netRPCPlugin{srv: srv}}
		case ProtocolV2:
			sets[v] = plugin.PluginSet{PluginName: &grpcPlugin{srv: srv}}
		}
	}
	return sets
}
