// Command bgjob-scheduled is the plugin that serves the ScheduledJob job
// type (see plugins/scheduled): jobs defined in HCL files and started by
// name or by their cron triggers. It runs no jobs itself; a definition's
// runtime does. Run by hand as `bgjob-scheduled describe` it prints what it
// is as JSON.
package main

import (
	"github.com/bgjob/bgjob/plugins/scheduled"
	"github.com/bgjob/bgjob/sdk"
)

// version is what the plugin says it is; a release build sets it with
// -ldflags "-X main.version=V".
var version = "1.0.0"

func main() {
	sdk.Serve(&sdk.ServeConfig{Name: "scheduled", Version: version, Types: []sdk.JobType{scheduled.New()}, Reusable: true})
}
