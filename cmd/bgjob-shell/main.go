// Command bgjob-shell is the reference shell runtime plugin. Run by hand as
// `bgjob-shell describe` it prints what it is as JSON.
//
// One source builds both lines: the version a build is linked with
// (-ldflags "-X main.version=V") decides which. A 1.x build is the legacy
// line: the POSIX dialect, four stream builtins, and protocol 1 only; a 2.x
// build (the default) has the Bash dialect, all seven streams and
// protocol 2.
package main

import (
	"strings"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
)

// version is what the binary says it is.
var version = shell.Version

func main() {
	var opts []shell.Option
	protocols := []int{sdk.ProtocolV2}
	if strings.HasPrefix(version, "1.") {
		opts = append(opts, shell.WithLegacy())
		protocols = []int{sdk.ProtocolV1}
	}
	sdk.Serve(&sdk.ServeConfig{
		Name:      shell.Name,
		Version:   version,
		Runtime:   shell.New(opts...),
		Protocols: protocols,
		// Each job gets a fresh interpreter; what a job changes of the
		// process (its directory, its mask) the SDK sets per job.
		Reusable: true,
		// And what a job's commands leave running when it ends (a
		// `setsid daemon &`) is ended then, not handed to the next job.
		EndLeftovers: true,
	})
}
