//go:build unix

package catalog

import (
	"errors"
	"io/fs"
	"syscall"
)

// isExecutable reports whether anyone may execute a file of this mode. The
// check is deliberately loose (any x bit): the aim is a clear message for
// the common mistake of a missing chmod +x, not an access-control decision,
// which the exec itself makes.
func isExecutable(m fs.FileMode) bool { return m.Perm()&0o111 != 0 }

// isTextBusy reports the transient ETXTBSY that exec can return for a file
// that was open for writing a moment ago.
func isTextBusy(err error) bool { return errors.Is(err, syscall.ETXTBSY) }
