// Command forgert is a test runtime that lies in its go-plugin handshake,
// as a job's user can make their own runtime do: it names a socket that is
// not its own. Which one, and how, is in the file named at build time
// (-ldflags "-X main.config=PATH"): a first line "other" (name the socket
// on the second line directly) or "link" (name a link to it in the
// runtime's own socket directory). Its `describe` is a real runtime's, so
// that it installs into a catalog.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bgjob/bgjob/sdk"
)

var config string

func main() {
	if len(os.Args) == 2 && os.Args[1] == "describe" {
		sdk.Serve(&sdk.ServeConfig{Name: "forge", Version: "1.0.0", Runtime: sdk.RuntimeFunc(
			func(context.Context, *sdk.Job, sdk.Emitter) sdk.Result { return sdk.Success() })})
		return
	}
	b, err := os.ReadFile(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mode, target, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	addr := target
	if mode == "link" {
		addr = filepath.Join(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), "plugin-link")
		if err := os.Symlink(target, addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("1|2|unix|%s|grpc|\n", addr)
	time.Sleep(time.Minute)
}
