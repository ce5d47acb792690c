// Command bgjob-shell is the reference shell runtime plugin. Run by hand as
// `bgjob-shell describe` it prints what it is as JSON.
package main

import (
	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
)

// version is what the binary says it is; a build of another line sets it
// with -ldflags "-X main.version=2.0.1".
var version = shell.Version

func main() {
	sdk.Serve(&sdk.ServeConfig{
		Name:    shell.Name,
		Version: version,
		Runtime: shell.New(shell.WithVersion(version)),
	})
}
