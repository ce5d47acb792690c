//go:build aix || dragonfly || linux || openbsd || solaris

package catalog

import (
	"io/fs"
	"syscall"
)

// statID extracts the cache key of a file; false means "do not cache".
func statID(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
		size:  int64(st.Size),
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
	}, true
}
