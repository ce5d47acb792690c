//go:build !linux

package durable

import "os"

// Data makes f durable; elsewhere than on Linux, as File.
func Data(f *os.File) error { return f.Sync() }

// File makes f durable, data and metadata.
func File(f *os.File) error { return f.Sync() }
