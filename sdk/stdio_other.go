//go:build !unix

package sdk

import "os"

// logToFile: standard error stays the host's pipe here.
func logToFile(*os.File) {}

func nullStdin() {}

func pipeClosed(int) bool { return false }
