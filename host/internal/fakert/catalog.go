package fakert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/sdk"
)

// Entry is a runtime a fake catalog lists.
type Entry struct {
	Name, Version, Arch string // Arch "" is this machine's
	Protocols           []int  // nil is protocol 2
	Reusable            bool   // its Description says it runs jobs after one ended
	// Content is the binary's bytes; nil is a script that exits 1 (the
	// fake launcher never runs it; a 32-bit probe sees it run).
	Content []byte
}

// Catalog returns a catalog holding entries, by default runtime "shell"
// 2.0.0 for this platform.
func Catalog(t testing.TB, entries ...Entry) string {
	t.Helper()
	if len(entries) == 0 {
		entries = []Entry{{Name: "shell", Version: "2.0.0"}}
	}
	root := t.TempDir()
	for _, e := range entries {
		if e.Arch == "" {
			e.Arch = runtime.GOARCH
		}
		if e.Protocols == nil {
			e.Protocols = []int{sdk.ProtocolV2}
		}
		if e.Content == nil {
			e.Content = []byte("#!/bin/false\n# a runtime the fake launcher stands in for\n")
		}
		dir := filepath.Join(root, e.Name, e.Version, runtime.GOOS+"_"+e.Arch)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bgjob-"+e.Name), e.Content, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(e.Content)
		m := catalog.Manifest{Binary: "bgjob-" + e.Name, SHA256: hex.EncodeToString(sum[:])}
		m.Description = sdk.Description{Name: e.Name, Version: e.Version, OS: runtime.GOOS, Arch: e.Arch,
			Protocol: slices.Max(e.Protocols), Protocols: e.Protocols, Kind: sdk.KindRuntime, Reusable: e.Reusable}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
