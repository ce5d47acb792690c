//go:build unix

package sdk

import "syscall"

// setUmask sets the process's file mode creation mask: a runtime process
// runs one job, which starts with the mask its submitter had.
func setUmask(m uint32) { syscall.Umask(int(m)) }
