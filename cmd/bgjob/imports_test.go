package main

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestLightImports guards the CLI's start-up time: every package linked
// into bgjob runs its init on every call, and gRPC, go-plugin and net/rpc
// would add several milliseconds to each one.
func TestLightImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps returned too little to judge: %q", deps)
	}
	forbidden := []string{"google.golang.org/grpc", "github.com/hashicorp/go-plugin", "net/rpc", "google.golang.org/protobuf", "go.etcd.io/bbolt", "mvdan.cc/sh", "github.com/Masterminds/semver/v3", "github.com/bgjob/bgjob/host/catalog"}
	if runtime.GOOS == "linux" {
		// The instance id a start carries comes from getrandom(2) there:
		// crypto/rand's FIPS packages would initialise on every call.
		forbidden = append(forbidden, "crypto/rand")
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("the CLI links %s (via the import of %s); keep it out of cmd/bgjob's import graph", d, f)
			}
		}
	}
}

// TestImportGraph holds the module to its layering: data flows cmd -> host
// -> (protocol) -> runtimes and plugins. The CLI links only the wire API
// (and safepath, the ownership check the API shares with the catalog,
// which links nothing of ours);
// the host's internal packages (but hosttest, which drives a host in
// tests) do not link package host, which is made of them; sdk, which
// plugin authors import, links nothing of the host; runtimes and plugins
// link nothing of the host either; and only the daemon links the socket
// server.
func TestImportGraph(t *testing.T) {
	const mod = "github.com/bgjob/bgjob/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", mod+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, d := range f[1:] {
			if strings.HasPrefix(d, mod) {
				deps[f[0]] = append(deps[f[0]], strings.TrimPrefix(d, mod))
			}
		}
	}
	if len(deps) < 5 {
		t.Fatalf("go list found too few packages to judge: %v", deps)
	}
	for pkg, ds := range deps {
		p := strings.TrimPrefix(pkg, mod)
		for _, d := range ds {
			switch {
			case p == "cmd/bgjob" && d != "host/api" && d != "host/internal/safepath":
				t.Errorf("the CLI links %s; it may link only host/api", d)
			case p == "host/internal/safepath":
				t.Errorf("safepath links %s; the CLI links it, so it must link nothing of ours", d)
			case (strings.HasPrefix(p, "sdk") || strings.HasPrefix(p, "runtimes") || strings.HasPrefix(p, "plugins")) && strings.HasPrefix(d, "host"):
				t.Errorf("%s links %s: plugins and the SDK must not depend on the host", p, d)
			case strings.HasPrefix(p, "host/internal/") && p != "host/internal/hosttest" && d == "host":
				t.Errorf("%s links package host; the host's internal packages sit below it", p)
			case d == "host/server" && p != "cmd/bgjobd" && !strings.HasPrefix(p, "host/server"):
				t.Errorf("%s links the socket server; only cmd/bgjobd may", p)
			}
		}
	}
}
