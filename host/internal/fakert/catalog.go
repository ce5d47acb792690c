package fakert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bgjob/bgjob/host/catalog"
	"github.com/bgjob/bgjob/sdk"
)

// Catalog returns a catalog holding runtime "shell" 2.0.0 for this
// platform, whose binary is a file the fake launcher never runs.
func Catalog(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "shell", "2.0.0", runtime.GOOS+"_"+runtime.GOARCH)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := []byte("#!/bin/false\n# a runtime the fake launcher stands in for\n")
	if err := os.WriteFile(filepath.Join(dir, "bgjob-shell"), content, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	m := catalog.Manifest{Binary: "bgjob-shell", SHA256: hex.EncodeToString(sum[:])}
	m.Description = sdk.Description{Name: "shell", Version: "2.0.0", OS: runtime.GOOS, Arch: runtime.GOARCH,
		Protocol: sdk.ProtocolVersion, Kind: sdk.KindRuntime}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}
