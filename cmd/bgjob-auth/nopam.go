//go:build !(cgo && linux)

package main

import (
	"fmt"
	"os"
)

// check cannot: this build has no PAM.
func check(string, string, string) int {
	fmt.Fprintln(os.Stderr, "bgjob-auth: this build has no PAM (it needs cgo and PAM's headers: apt-get install libpam0g-dev, then make build)")
	return 2
}
