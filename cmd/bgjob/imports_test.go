package main

import (
	"os/exec"
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
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("the CLI links %s (via the import of %s); keep it out of cmd/bgjob's import graph", d, f)
			}
		}
	}
}
