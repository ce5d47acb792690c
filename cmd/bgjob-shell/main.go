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
	"os"
	"runtime"
	"strings"

	"github.com/bgjob/bgjob/runtimes/shell"
	"github.com/bgjob/bgjob/sdk"
)

// version is what the binary says it is.
var version = shell.Version

func main() {
	// A process that runs one job at a time runs on one processor: its
	// script is interpreted a step at a time, the commands it starts are
	// processes of their own (on every processor), and a second processor
	// of its own was woken for each turn of its work and looked for more
	// while the job's commands wanted the core. On 2 processors, paired:
	// start --wait echo hi x0.965, 512 MiB relayed x0.94, a 1000-child
	// batch of process children x0.93, 300 jobs one by one x0.98. A
	// process that runs thread jobs side by side (sdk.EnvShared) keeps
	// them all; $GOMAXPROCS, when set, decides.
	if os.Getenv(sdk.EnvShared) == "" && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
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
