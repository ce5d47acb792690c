//go:build !unix

package catalog

import "io/fs"

// isExecutable is always true where permission bits do not say whether a
// file can run (Windows decides by extension); the exec reports the rest.
func isExecutable(fs.FileMode) bool { return true }

// isTextBusy is a Unix condition only.
func isTextBusy(error) bool { return false }
