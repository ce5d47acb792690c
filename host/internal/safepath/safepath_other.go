//go:build !unix

package safepath

import (
	"io/fs"
	"os"
)

// Check: ownership and modes are not Unix's here; the files' ACLs decide.
func Check(string, fs.FileInfo, bool) error { return nil }

// Chain: see Check.
func Chain(string, func(string) bool) error { return nil }

// NoFollow: Windows' symbolic links need a privilege to make; no flag.
const NoFollow = 0

// RemoveFile removes the file at path.
func RemoveFile(path string) error { return os.Remove(path) }
