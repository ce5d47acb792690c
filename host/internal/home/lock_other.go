//go:build windows

package home

import "os"

// noFollow: Windows has no such flag for a plain open.
const noFollow = 0

// lockHome takes nothing on Windows: there the job table's own lock
// (LockFileEx on jobs.db) is what keeps a second host off the home.
func lockHome(dir string) (*os.File, bool, error) { return nil, false, nil }
