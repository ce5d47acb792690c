// Command bgjob-copy is the plugin that serves the Copy job type (see
// plugins/filecopy): `bgjob start --type Copy SOURCE DESTINATION`, or a
// stored NAME.copy.json started with --definition-name. Run by hand as
// `bgjob-copy describe` it prints what it is as JSON.
package main

import (
	"github.com/bgjob/bgjob/plugins/filecopy"
	"github.com/bgjob/bgjob/sdk"
)

// version is what the plugin says it is; a release build sets it with
// -ldflags "-X main.version=V".
var version = "1.0.0"

func main() {
	sdk.Serve(&sdk.ServeConfig{Name: "copy", Version: version, Types: []sdk.JobType{filecopy.New()}, Reusable: true})
}
